"""The wire tests' backend matrix, shared by tests/wire and tests/interop.

``asyncio`` uses the native asyncio protocol I/O path, ``asyncio-streams``
the generic anyio-stream path on asyncio, ``trio`` the generic path on trio.
"""

from __future__ import annotations

import pytest

from gorums_h2.wire import _io


@pytest.fixture(params=["asyncio", "asyncio-streams", "trio"])
def anyio_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "asyncio-streams":
        monkeypatch.setattr(_io, "NATIVE_ASYNCIO", False)
        return "asyncio"
    return str(request.param)
