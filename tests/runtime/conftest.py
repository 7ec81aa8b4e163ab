"""The runtime suite runs over both NodeStream wires where behaviour is shared.

Tests that take the ``wire`` fixture run once per wire: ``ordering`` (Go
Gorums v0.11) and ``stream`` (Go Gorums master); the servers serve both.
"""

from __future__ import annotations

import pytest


@pytest.fixture(params=["ordering", "stream"])
def wire(request: pytest.FixtureRequest) -> str:
    return str(request.param)
