"""The event loop's clock as a plain function, readable from loop callbacks.

All time in gorums_h2 is the event loop's time, never ``time.monotonic()``:
deadlines, timestamps and timers then follow a virtual clock (trio's
``MockClock``, a simulation's loop) exactly as they follow a real one.
``anyio.current_time()`` reads that clock but finds the backend anew on each
call and raises outside a task — in asyncio protocol callbacks, where the
native I/O path (:mod:`gorums_h2.wire._io`) delivers data and wakes senders.
:func:`loop_clock` finds the loop once, in a task, and returns its time
function, which then works anywhere on that loop and agrees with
``anyio.current_time()`` and anyio's timeouts. :func:`loop_time` reads the
same clock once, anywhere on the loop, at a fraction of anyio's cost (it
runs a few times per call).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import anyio

__all__ = ["loop_clock", "loop_time"]


def loop_clock() -> Callable[[], float]:
    """The running event loop's ``time()``; call it from a task of that loop.

    Raises anyio's ``NoEventLoopError`` outside an event loop (on the first
    reading, for a backend other than asyncio and trio).
    """
    trio = sys.modules.get("trio")
    # trio first (its guest mode runs on an asyncio loop), as in wire.signal
    if trio is not None and sys.modules["sniffio"].thread_local.name == "trio":
        # the run's clock object itself: trio.current_time() reaches the same
        # method through two more Python calls (the run's clock never changes)
        return trio.lowlevel.current_clock().current_time  # type: ignore[no-any-return]
    loop = asyncio._get_running_loop()
    if loop is not None:
        return loop.time
    return anyio.current_time  # another anyio backend


def loop_time() -> float:
    """The running event loop's time now (``loop_clock()()`` in one step).

    Raises anyio's ``NoEventLoopError`` outside an event loop.
    """
    trio = sys.modules.get("trio")
    if trio is not None and sys.modules["sniffio"].thread_local.name == "trio":
        return trio.lowlevel.current_clock().current_time()  # type: ignore[no-any-return]
    loop = asyncio._get_running_loop()
    if loop is not None:
        return loop.time()
    return anyio.current_time()
