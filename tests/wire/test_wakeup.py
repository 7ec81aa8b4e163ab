"""wire.signal.Wakeup: one waiter, woken by set() or its deadline, cancellable."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from gorums_h2.wire.clock import loop_time
from gorums_h2.wire.signal import Wakeup

pytestmark = pytest.mark.anyio


async def test_set_wakes_the_waiter_and_a_set_without_waiter_is_not_kept() -> None:
    wakeup = Wakeup()
    wakeup.set()  # nobody waits: nothing is remembered
    with anyio.move_on_after(0.05) as scope:
        await wakeup.wait()
    assert scope.cancelled_caught and not wakeup.waiting

    woken = []

    async def waiter() -> None:
        await wakeup.wait(loop_time() + 30)
        woken.append(loop_time())

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        while not wakeup.waiting:
            await anyio.lowlevel.checkpoint()
        wakeup.set()
    assert len(woken) == 1 and not wakeup.waiting


async def test_the_deadline_ends_the_wait_without_raising() -> None:
    wakeup = Wakeup()
    deadline = loop_time() + 0.05
    with anyio.fail_after(5):
        await wakeup.wait(deadline)
    assert loop_time() >= deadline - 1e-6
    # a deadline already past returns at the next loop step
    with anyio.fail_after(5):
        await wakeup.wait(loop_time() - 1)
    assert not wakeup.waiting


async def test_an_old_deadline_does_not_wake_a_later_wait() -> None:
    wakeup = Wakeup()

    async def wake_soon() -> None:
        await anyio.sleep(0.01)
        wakeup.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wake_soon)
        await wakeup.wait(loop_time() + 0.1)  # woken by set(), long before its deadline
    start = loop_time()
    with anyio.move_on_after(0.3) as scope:
        await wakeup.wait()  # the first wait's deadline passes meanwhile: no effect
    assert scope.cancelled_caught and loop_time() - start >= 0.3 - 1e-6


async def test_outer_cancellation_interrupts_the_wait_and_leaves_it_reusable() -> None:
    wakeup = Wakeup()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await wakeup.wait(loop_time() + 30)
    assert scope.cancelled_caught and not wakeup.waiting
    with anyio.move_on_after(0.02) as scope:
        await wakeup.wait(loop_time() + 30)
    assert scope.cancelled_caught and not wakeup.waiting
    wakeup.set()  # no waiter left: a no-op, nothing raised
    with anyio.fail_after(5):
        await wakeup.wait(loop_time() + 0.01)


async def test_a_second_waiter_is_refused() -> None:
    wakeup = Wakeup()
    async with anyio.create_task_group() as tg:
        tg.start_soon(wakeup.wait)
        while not wakeup.waiting:
            await anyio.lowlevel.checkpoint()
        with pytest.raises(RuntimeError, match="already waiting"):
            await wakeup.wait()
        wakeup.set()
