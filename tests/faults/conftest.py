"""Soak scenarios (default settings, about a minute each) run only when asked
for: ``pytest tests/faults -m soak`` (``bench/faults.py`` does)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "soak" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="soak test (default settings, ~1 min): run with -m soak")
    for item in items:
        if item.get_closest_marker("soak") is not None:
            item.add_marker(skip)
