"""Time is the event loop's, randomness is injected (issue 15, item 5).

These tests run trio directly with ``MockClock(autojump_threshold=0)``: the
clock jumps to the next timer whenever every task waits, so a deadline of an
hour passes as soon as nothing else can happen. A runtime that read
``time.monotonic()`` would wait for the wall clock instead; each test bounds
its work by a virtual guard, so such a runtime fails the test quickly rather
than hanging. There is no virtual clock for asyncio, so these run on trio only.
"""

from __future__ import annotations

import random
import socket
import time

import anyio
import trio
from trio.testing import MockClock

import gorums_h2 as g
from gorums_h2.testing import EchoService, register_echo_service, test_configuration
from gorums_h2.testing.services import ECHO_QC
from gorums_h2.testing.testing_pb2 import Echo

TIMEOUT = 3600.0  # virtual seconds


def silent_server(index: int) -> g.Server:
    """An echo server whose quorum-call handler never answers."""
    server = g.Server()
    service = EchoService(index)

    async def echo_qc(ctx: g.ServerCtx, req: Echo) -> Echo:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    service.echo_qc = echo_qc  # type: ignore[method-assign]
    register_echo_service(server, service)
    return server


def test_quorum_call_deadline_passes_in_virtual_time() -> None:
    async def main() -> tuple[float, BaseException | None, bool]:
        err: BaseException | None = None
        async with test_configuration(3, silent_server) as cfg:
            for node in cfg.nodes():
                await node.wait_connected()
            start = trio.current_time()
            with trio.move_on_after(3 * TIMEOUT) as guard:
                try:
                    await g.quorum_call(cfg.context(timeout=TIMEOUT), Echo(value="t"),
                                        ECHO_QC, Echo).majority()
                except g.IncompleteError as exc:
                    err = exc
            return trio.current_time() - start, err, guard.cancelled_caught

    wall_start = time.monotonic()
    virtual, err, guard_fired = trio.run(main, clock=MockClock(autojump_threshold=0))
    wall = time.monotonic() - wall_start
    assert not guard_fired, "the deadline did not pass on the loop's clock"
    assert isinstance(err, g.IncompleteError)
    assert sorted(err.node_errors) == [0, 1, 2]
    assert all(e.code == g.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
               for e in err.node_errors.values())
    # the call ends at its deadline on the virtual clock (the clock jumps
    # straight to it: nothing else is due earlier)
    assert TIMEOUT <= virtual < TIMEOUT + 60
    assert wall < TIMEOUT / 10  # an hour of virtual time, not of wall time


class RecordingRandom(random.Random):
    """A seeded source that counts the jitter draws made from it."""

    def __init__(self, seed: int, enough: int) -> None:
        super().__init__(seed)
        self.draws = 0
        self.enough = enough
        self.drawn_enough = trio.Event()

    def uniform(self, a: float, b: float) -> float:
        self.draws += 1
        if self.draws >= self.enough:
            self.drawn_enough.set()
        return super().uniform(a, b)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_reconnect_jitter_comes_from_the_managers_random_source() -> None:
    """A node that cannot connect retries with backoff; every delay draws
    its jitter from ``Manager(rng=...)``, and the delays are virtual time."""
    port = _closed_port()  # nothing listens: every attempt is refused at once
    rng = RecordingRandom(seed=15, enough=5)
    backoff = g.Backoff(base_delay=60.0, max_delay=600.0)

    async def main() -> bool:
        async with g.Manager(rng=rng, backoff=backoff) as mgr:
            mgr.new_configuration(g.with_node_list([f"127.0.0.1:{port}"]))
            with trio.move_on_after(24 * 3600) as guard:  # a virtual day at most
                await rng.drawn_enough.wait()
            return guard.cancelled_caught

    assert not trio.run(main, clock=MockClock(autojump_threshold=0))
    assert rng.draws >= 5
