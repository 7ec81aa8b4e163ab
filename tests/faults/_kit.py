"""Helpers of the fault scenarios."""

from __future__ import annotations

from collections.abc import Callable

import anyio


async def eventually(condition: Callable[[], object], within: float = 10.0) -> None:
    """Poll ``condition`` until it is true (TimeoutError after ``within`` s)."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.01)
