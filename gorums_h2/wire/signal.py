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
from typing import Any

import anyio

__all__ = ["Signal", "Wakeup"]


_ASYNCIO, _TRIO, _ANYIO = 1, 2, 3  # how a signal's waiters wait (decided at its first wait)


def _loop_kind() -> int:
    """Which loop runs this task: trio, an asyncio loop (uvloop too), or
    another anyio backend."""
    trio = sys.modules.get("trio")
    # trio first (its guest mode runs on an asyncio loop); while it runs it
    # names itself in sniffio's thread-local, the cheapest test there is
    if trio is not None and sys.modules["sniffio"].thread_local.name == "trio":
        return _TRIO
    if asyncio._get_running_loop() is not None:
        return _ASYNCIO
    return _ANYIO


class Signal:
    """A resettable wake-up for any number of waiters.

    ``set()`` wakes the tasks waiting *now*; later ``wait()`` calls block
    until the next ``set()``. Check your condition before waiting (there is
    no await in between, so no wake-up is lost). A signal serves one event
    loop (the one of its first ``wait()``). Waiting is a plain suspension
    that any cancel scope can interrupt (the waiter is then forgotten).

    Each waiter waits on the loop's cheapest primitive, with no event object
    per wait (signals wait a few times per call, in the I/O tasks too): a
    future on asyncio and uvloop, a parked task
    (``trio.lowlevel.wait_task_rescheduled``) on trio, an ``anyio.Event``
    on other anyio backends.
    """

    __slots__ = ("_kind", "_waiters")

    def __init__(self) -> None:
        self._waiters: list[Any] = []  # futures, trio tasks or anyio events, by _kind
        self._kind = 0

    def set(self) -> None:
        waiters = self._waiters
        if not waiters:
            return
        self._waiters = []
        kind = self._kind
        if kind == _ASYNCIO:
            for fut in waiters:
                if not fut.done():  # (a cancelled waiter's future is done)
                    fut.set_result(None)
        elif kind == _TRIO:
            reschedule = sys.modules["trio"].lowlevel.reschedule
            for task in waiters:
                reschedule(task)
        else:
            for event in waiters:
                event.set()

    async def wait(self) -> None:
        kind = self._kind
        if not kind:
            kind = self._kind = _loop_kind()
        waiters = self._waiters
        if kind == _ASYNCIO:
            fut = asyncio.get_running_loop().create_future()
            waiters.append(fut)
            try:
                await fut
            except BaseException:
                if not fut.done() or fut.cancelled():
                    _discard(waiters, fut)
                raise
        elif kind == _TRIO:
            lowlevel = sys.modules["trio"].lowlevel
            task = lowlevel.current_task()
            waiters.append(task)

            def abort(_: object) -> Any:
                _discard(waiters, task)  # (a woken task is never aborted)
                return lowlevel.Abort.SUCCEEDED

            await lowlevel.wait_task_rescheduled(abort)
        else:
            event = anyio.Event()
            waiters.append(event)
            try:
                await event.wait()
            except BaseException:
                _discard(waiters, event)
                raise


def _discard(waiters: list[Any], waiter: object) -> None:
    """Forget a cancelled waiter (``waiters`` is the list it joined: set()
    may have replaced the signal's list since)."""
    try:
        waiters.remove(waiter)
    except ValueError:
        pass


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
        kind = _loop_kind()
        if kind == _TRIO:
            await self._wait_trio(sys.modules["trio"], deadline)
            return
        if kind == _ANYIO:
            await self._wait_anyio(deadline)
            return
        loop = asyncio.get_running_loop()
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
