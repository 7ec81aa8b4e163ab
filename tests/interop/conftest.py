"""Interop tests run on the same backend matrix as the wire tests."""

from __future__ import annotations

from _backends import anyio_backend, io_backend, wire

__all__ = ["anyio_backend", "io_backend", "wire"]
