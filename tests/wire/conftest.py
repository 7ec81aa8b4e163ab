"""Wire tests also run asyncio on the generic anyio-stream I/O path."""

from __future__ import annotations

import pytest

from gorums_h2.wire import _io


@pytest.fixture(params=["asyncio", "asyncio-streams", "trio"])
def anyio_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "asyncio-streams":
        monkeypatch.setattr(_io, "NATIVE_ASYNCIO", False)
        return "asyncio"
    return str(request.param)
