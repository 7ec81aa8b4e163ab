"""Signal: a resettable wake-up on the running loop's own event class.

The one waiting primitive of the wire driver and the runtime: the core's
hooks, reply routing and back-pressure wake waiters by setting a signal.
It is a module of its own so that code that only waits (the runtime's
channels and calls, the I/O strategies) need not import the driver
(:mod:`gorums_h2.wire.connection`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any, Protocol

import anyio

__all__ = ["Signal"]


class _NativeEvent(Protocol):
    def set(self) -> None: ...

    async def wait(self) -> Any: ...


def _event_factory() -> Callable[[], _NativeEvent]:
    """The running loop's own event class.

    ``anyio.Event()`` finds the backend anew for every event (5 to 6 times
    the cost of the native constructor), and signals make one per wait, a
    few per call. The native events behave the same under anyio: waiting is
    a plain suspension its cancel scopes can interrupt.
    """
    trio = sys.modules.get("trio")
    # trio first (its guest mode runs on an asyncio loop); while it runs it
    # names itself in sniffio's thread-local, the cheapest test there is
    if trio is not None and sys.modules["sniffio"].thread_local.name == "trio":
        return trio.Event  # type: ignore[no-any-return]
    if asyncio._get_running_loop() is not None:
        return asyncio.Event
    return anyio.Event  # another anyio backend


class Signal:
    """A resettable wake-up for any number of waiters.

    ``set()`` wakes the tasks waiting *now*; later ``wait()`` calls block
    until the next ``set()``. Check your condition before waiting (there is
    no await in between, so no wake-up is lost). A signal serves one event
    loop (the one of its first ``wait()``).
    """

    __slots__ = ("_event", "_factory")

    def __init__(self) -> None:
        self._event: _NativeEvent | None = None
        self._factory: Callable[[], _NativeEvent] | None = None

    def set(self) -> None:
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self) -> None:
        event = self._event
        if event is None:
            factory = self._factory
            if factory is None:
                factory = self._factory = _event_factory()
            event = self._event = factory()
        await event.wait()
