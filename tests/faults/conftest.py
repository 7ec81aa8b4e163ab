"""The fault tests' loops and soak gating.

Scenarios are long (seconds each), so they run on the issue's two loops,
asyncio and trio; ``GORUMS_FAULTS_LOOPS=asyncio,trio,uvloop`` adds uvloop
(``bench/faults.py --loops`` sets it). The ``loop`` fixture names the loop
(for server processes and figures), ``anyio_backend`` follows it.

Soak scenarios (default settings, about a minute each) run only when asked
for: ``pytest tests/faults -m soak`` (``bench/faults.py`` does).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from _loops import backend_of

LOOPS = [name.strip() for name in os.environ.get("GORUMS_FAULTS_LOOPS", "asyncio,trio")
         .split(",") if name.strip()]


@pytest.fixture(params=LOOPS)
def loop(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def anyio_backend(loop: str) -> Any:
    return backend_of(loop)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "soak" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="soak test (default settings, ~1 min): run with -m soak")
    for item in items:
        if item.get_closest_marker("soak") is not None:
            item.add_marker(skip)
