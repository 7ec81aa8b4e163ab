"""Wire tests also run asyncio on the generic anyio-stream I/O path."""

from __future__ import annotations

from _backends import anyio_backend, io_backend, wire

__all__ = ["anyio_backend", "io_backend", "wire"]
