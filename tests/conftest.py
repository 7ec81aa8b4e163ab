"""Every async test runs on asyncio and on trio (anyio's pytest plugin), and
on uvloop where it is installed.

The tests that assert rates, time bounds of fault handling or memory
(:data:`TIMING`) are marked ``timing``: CI (.ci/run) runs the rest of the
suite on two pytest-xdist workers, then these alone, one at a time, so no
other test's CPU load falls between the phases they compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _loops import backend_of, with_uvloop
from hypothesis import settings

# Property tests check what happens, not how fast: on a loaded 2-core CI
# machine Hypothesis' default 200 ms deadline per example is noise.
settings.register_profile("gorums_h2", deadline=None)
settings.load_profile("gorums_h2")

HERE = Path(__file__).parent
TIMING = [HERE / "faults", HERE / "security", HERE / "runtime" / "test_client_faults.py",
          HERE / "interop" / "test_go_like_peer.py"]  # write-coalescing counts
"""Directories and modules of timing-sensitive tests (marked ``timing``)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.path == p or p in item.path.parents for p in TIMING):
            item.add_marker(pytest.mark.timing)


@pytest.fixture(params=with_uvloop(["asyncio", "trio"]))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return backend_of(str(request.param))
