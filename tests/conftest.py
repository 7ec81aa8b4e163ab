"""Every async test runs on asyncio and on trio (anyio's pytest plugin), and
on uvloop where it is installed."""

from __future__ import annotations

from typing import Any

import pytest
from _loops import backend_of, with_uvloop
from hypothesis import settings

# Property tests check what happens, not how fast: on a loaded 2-core CI
# machine Hypothesis' default 200 ms deadline per example is noise.
settings.register_profile("gorums_h2", deadline=None)
settings.load_profile("gorums_h2")


@pytest.fixture(params=with_uvloop(["asyncio", "trio"]))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return backend_of(str(request.param))
