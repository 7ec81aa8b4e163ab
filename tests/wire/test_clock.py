"""wire.clock: the event loop's clock, in tasks and in asyncio's I/O callbacks."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from gorums_h2.wire.clock import loop_clock, loop_time

pytestmark = pytest.mark.anyio


async def test_readings_agree_with_anyio_and_move_with_the_loop() -> None:
    clock = loop_clock()
    first = (anyio.current_time(), clock(), loop_time())
    await anyio.sleep(0.01)
    second = (clock(), loop_time(), anyio.current_time())
    # each reading is taken after the one before it, on the same clock
    assert first[0] <= first[1] <= first[2] <= second[0] + 1e-9
    assert second[0] <= second[1] <= second[2]
    assert second[0] - first[2] >= 0.01 - 1e-6  # the loop's own sleep


async def test_a_captured_clock_reads_in_an_asyncio_callback(anyio_backend_name: str) -> None:
    """asyncio protocol callbacks run outside any task: anyio.current_time()
    raises there, the captured clock (and loop_time) do not."""
    if anyio_backend_name != "asyncio":
        pytest.skip("protocol callbacks are asyncio's")
    clock = loop_clock()
    readings: list[float] = []
    done = anyio.Event()

    def callback() -> None:
        readings.extend((clock(), loop_time()))
        done.set()

    asyncio.get_running_loop().call_soon(callback)
    await done.wait()
    assert len(readings) == 2 and readings[0] <= readings[1] <= anyio.current_time()
