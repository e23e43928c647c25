"""Generated from protos/k8s by protos/generate.py; do not edit."""
