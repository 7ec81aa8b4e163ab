"""The wire tests' backend matrix, shared by tests/wire, tests/interop and
the connection-level security tests.

``asyncio`` uses the native asyncio protocol I/O path, ``asyncio-streams``
the generic anyio-stream path on asyncio, ``trio`` the native raw-socket path
on trio, ``trio-streams`` the generic path on trio, ``uvloop`` (where
installed) the native asyncio path on uvloop's loop. The loop comes from
``anyio_backend``; the I/O path from the ``wire`` fixture, the
:class:`WireSettings` a test passes to ``connect``/``WireServer`` (its
``io_backend``: None for the native paths, ``AnyioBackend()`` for the
``-streams`` ids).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from _loops import backend_of, with_uvloop

from gorums_h2.wire.io_backends import AnyioBackend, IOBackend
from gorums_h2.wire.settings import WireSettings

__all__ = ["anyio_backend", "io_backend", "wire", "with_io"]

_STREAMS = {"asyncio-streams": "asyncio", "trio-streams": "trio"}


@pytest.fixture(params=with_uvloop(["asyncio", "asyncio-streams", "trio", "trio-streams"]))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return backend_of(_STREAMS.get(str(request.param), str(request.param)))


@pytest.fixture
def io_backend(request: pytest.FixtureRequest) -> IOBackend | None:
    """The I/O backend of this test's backend id (None: the loop's native one)."""
    callspec = getattr(request.node, "callspec", None)
    backend_id = callspec.params.get("anyio_backend") if callspec is not None else None
    return AnyioBackend() if backend_id in _STREAMS else None


@pytest.fixture
def wire(io_backend: IOBackend | None) -> WireSettings:
    """Default :class:`WireSettings` on this test's I/O backend."""
    return WireSettings(io_backend=io_backend)


def with_io(settings: WireSettings, wire: WireSettings) -> WireSettings:
    """``settings`` on the I/O backend of ``wire``."""
    return dataclasses.replace(settings, io_backend=wire.io_backend)
