"""Signal and Wakeup: resettable wake-ups on the running loop's own primitives.

The waiting primitives of the wire driver and the runtime: the core's
hooks, reply routing and back-pressure wake waiters by setting a signal.
:class:`Signal` serves any number of waiters; :class:`Wakeup` serves one
waiting task at a time and bounds the wait by a deadline without a cancel
scope (a quorum call or RPC waits on one per call: the cheapest wait there
is on each loop). It is a module of its own so that code that only waits
(the runtime's channels and calls, the I/O strategies) need not import the
driver (:mod:`gorums_h2.wire.connection`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any, Protocol

import anyio

__all__ = ["Signal", "Wakeup"]


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


def _wake_future(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Wakeup:
    """A wake-up for one waiting task at a time, with an optional deadline.

    ``set()`` wakes the task waiting *now* (a no-op when none waits: check
    your condition before waiting, with no await in between, and no
    wake-up is lost). ``await wait(deadline)`` returns at the next
    ``set()`` or once the loop's clock (:func:`~gorums_h2.wire.clock.loop_time`)
    reached ``deadline``, whichever comes first; it never raises for the
    deadline (read the clock afterwards). Cancellation from any enclosing
    cancel scope interrupts it as any suspension, and nothing outlives it.

    Why not a :class:`Signal` in ``anyio.move_on_after``: a cancel scope
    per wait is the largest part of a call's waiting cost on asyncio. Here
    the wait is one future with a timer handle (``loop.call_at``) that
    resolves it, on asyncio and uvloop; a parked task
    (``trio.lowlevel.wait_task_rescheduled``) in a deadline-only
    ``trio.CancelScope`` on trio; an ``anyio.Event`` in ``move_on_after``
    on any other anyio backend. A second task waiting while one waits
    raises RuntimeError.
    """

    __slots__ = ("_event", "_future", "_task")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None  # asyncio: the waiter's future
        self._task: Any = None  # trio: the parked task
        self._event: anyio.Event | None = None  # other backends

    @property
    def waiting(self) -> bool:
        """True while a task waits."""
        return self._future is not None or self._task is not None or self._event is not None

    def set(self) -> None:
        fut = self._future
        if fut is not None:
            self._future = None
            if not fut.done():
                fut.set_result(None)
            return
        task = self._task
        if task is not None:
            self._task = None
            sys.modules["trio"].lowlevel.reschedule(task)
            return
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self, deadline: float | None = None) -> None:
        if self.waiting:
            raise RuntimeError("Wakeup: another task is already waiting")
        trio = sys.modules.get("trio")
        if trio is not None and sys.modules["sniffio"].thread_local.name == "trio":
            await self._wait_trio(trio, deadline)
            return
        loop = asyncio._get_running_loop()
        if loop is None:
            await self._wait_anyio(deadline)
            return
        fut = self._future = loop.create_future()
        if deadline is None:
            try:
                await fut
            finally:
                self._future = None
            return
        timer = loop.call_at(deadline, _wake_future, fut)
        try:
            await fut
        finally:
            self._future = None
            timer.cancel()

    async def _wait_trio(self, trio: Any, deadline: float | None) -> None:
        lowlevel = trio.lowlevel
        self._task = lowlevel.current_task()

        def abort(_: object) -> Any:
            self._task = None
            return lowlevel.Abort.SUCCEEDED

        if deadline is None:
            await lowlevel.wait_task_rescheduled(abort)
            return
        with trio.CancelScope(deadline=deadline):
            await lowlevel.wait_task_rescheduled(abort)

    async def _wait_anyio(self, deadline: float | None) -> None:
        event = self._event = anyio.Event()
        try:
            if deadline is None:
                await event.wait()
            else:
                with anyio.move_on_after(deadline - anyio.current_time()):
                    await event.wait()
        finally:
            self._event = None
