"""Protobuf modules generated from proto/ (see proto/generate.py)."""
