"""The wire tests' backend matrix, shared by tests/wire and tests/interop.

``asyncio`` uses the native asyncio protocol I/O path, ``asyncio-streams``
the generic anyio-stream path on asyncio, ``trio`` the native raw-socket path
on trio, ``trio-streams`` the generic path on trio, ``uvloop`` (where
installed) the native asyncio path on uvloop's loop.
"""

from __future__ import annotations

from typing import Any

import pytest
from _loops import backend_of, with_uvloop

from gorums_h2.wire import _io, _trio_io


@pytest.fixture(params=with_uvloop(["asyncio", "asyncio-streams", "trio", "trio-streams"]))
def anyio_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    if request.param == "asyncio-streams":
        monkeypatch.setattr(_io, "NATIVE_ASYNCIO", False)
        return "asyncio"
    if request.param == "trio-streams":
        monkeypatch.setattr(_trio_io, "NATIVE_TRIO", False)
        return "trio"
    return backend_of(str(request.param))
