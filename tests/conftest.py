"""Every async test runs on asyncio and on trio (anyio's pytest plugin), and
on uvloop where it is installed."""

from __future__ import annotations

from typing import Any

import pytest
from _loops import backend_of, with_uvloop


@pytest.fixture(params=with_uvloop(["asyncio", "trio"]))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return backend_of(str(request.param))
