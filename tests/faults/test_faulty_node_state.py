"""While one node is down or stalled, a majority call costs the client the
same as before: nothing is left behind per call for the faulty node (no
objects, routes or tasks), however many calls fail it.

Deterministic signatures, not timings: before the stored-error fix, a down
node's error kept every raise's frames (about two per call), so the client's
objects, and its CPU per call, grew for as long as the node was down.
"""

from __future__ import annotations

import gc
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from types import CoroutineType, FrameType, TracebackType

import anyio
import pytest
from _kit import all_reply, majority_call, proxied_configuration

import gorums_h2 as g
from gorums_h2.testing import test_servers

pytestmark = pytest.mark.anyio

WARMUP = 300
CALLS = 1500
GROWTH = 100
"""Objects of a kind the client may gain over :data:`CALLS` calls; a leak of
one per call is 1500."""


def kind(obj: object) -> str | None:
    """The kinds of object a per-call leak leaves: the library's own, frames,
    tracebacks, exceptions, coroutines, the loop's handles and futures (not
    trio's stale deadline entries, which it prunes in bulk)."""
    if isinstance(obj, FrameType | TracebackType | BaseException | CoroutineType):
        return type(obj).__name__
    module = type(obj).__module__  # not always a str (a class may define a property)
    if isinstance(module, str) and module.startswith(("gorums_h2", "asyncio")):
        return type(obj).__qualname__
    return None


def snapshot(cfg: g.Configuration) -> dict[str, int]:
    gc.collect()
    state = Counter(k for k in map(kind, gc.get_objects()) if k is not None)
    for node in cfg.nodes():
        channel = node.channel
        state[f"routes {node.id}"] = len(channel.routes)
    state["tasks"] = len(anyio.get_running_tasks())
    return dict(state)


async def calls(cfg: g.Configuration, n: int, payload: int = 0, workers: int = 8) -> None:
    """``n`` majority calls from ``workers`` concurrent tasks; each must succeed."""
    call = majority_call(cfg, payload)
    left = [n]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await call()

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker)


def assert_bounded(before: dict[str, int], after: dict[str, int]) -> None:
    """No kind of object grew by :data:`GROWTH`; no routes or tasks were added."""
    grown = {}
    for key, count in after.items():
        more = count - before.get(key, 0)
        if more >= (1 if key.startswith(("routes", "tasks")) else GROWTH):
            grown[key] = more
    assert not grown, f"grew over {CALLS} calls: {grown}"


@contextmanager
def refused_address() -> Iterator[str]:
    """A ``host:port`` bound but not listening: every connect is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{held.getsockname()[1]}"


async def test_a_down_node_leaves_nothing_behind_per_call(loop: str) -> None:
    with refused_address() as dead, anyio.fail_after(60):
        async with test_servers(2) as servers, g.Manager() as mgr:
            cfg = mgr.new_configuration(
                g.with_node_map({servers.addresses[0]: 0, servers.addresses[1]: 1, dead: 2}))
            node = cfg.nodes()[2]
            while node.last_err is None:  # noqa: ASYNC110 (the channel's first attempt)
                await anyio.sleep(0.01)
            await calls(cfg, WARMUP)
            before = snapshot(cfg)
            await calls(cfg, CALLS)
            after = snapshot(cfg)
            assert not node.connected
            assert_bounded(before, after)


async def test_a_stalled_node_leaves_nothing_behind_per_call(loop: str) -> None:
    async with proxied_configuration() as env:
        cfg = env.cfg
        with anyio.fail_after(60):
            await all_reply(cfg)
            env.proxies[2].stall()
            # 16 KiB requests: the stalled node's queue is full after ~256 calls,
            # and from then on its part of each call fails at once (SendQueueFull)
            await calls(cfg, WARMUP, payload=16 * 1024)
            before = snapshot(cfg)
            await calls(cfg, CALLS, payload=16 * 1024)
            after = snapshot(cfg)
            assert cfg.nodes()[2].channel.room_error() is not None  # still full
            assert_bounded(before, after)
            env.proxies[2].heal()
