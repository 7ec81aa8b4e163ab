"""The event loops every async test runs on: asyncio, trio and, where it is
installed, uvloop (asyncio's API on libuv: it reads sockets at other moments
than asyncio's selector loop, e.g. before ``connection_made`` runs)."""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["HAVE_UVLOOP", "UVLOOP", "backend_of", "with_uvloop"]

UVLOOP: Any = ("asyncio", {"use_uvloop": True})

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


def backend_of(backend_id: str) -> Any:
    """The value of the ``anyio_backend`` fixture for ``backend_id``."""
    return UVLOOP if backend_id == "uvloop" else backend_id


def with_uvloop(ids: list[str]) -> list[str]:
    """``ids`` plus ``uvloop`` when uvloop can be imported."""
    return [*ids, "uvloop"] if HAVE_UVLOOP else ids
