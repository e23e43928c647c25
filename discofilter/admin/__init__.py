"""Admin surfaces of a running proxy: gRPC admin + health + reflection, HTTP metrics and probes.

Generated protobuf code is kept apart in ``discofilter/_generated/discofilter/v1``.
"""
