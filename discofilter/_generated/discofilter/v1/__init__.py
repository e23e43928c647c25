"""Generated from protos/discofilter; do not edit."""
