"""Per-client ordering over real TCP: arrival order, release(), out-of-order replies."""

from __future__ import annotations

import anyio
import pytest
from _server_kit import WAIT, address_of, raw_node_stream, running

import gorums_h2 as g
from gorums_h2.testing import ECHO_RPC, ECHO_UNICAST, Echo

pytestmark = pytest.mark.anyio

N = 1000


def echo_server(log: list[int]) -> g.Server:
    """ECHO_RPC/ECHO_UNICAST record ``num`` on arrival; the RPC echoes it."""
    server = g.Server()

    async def rpc(ctx: g.ServerCtx, req: Echo) -> Echo:
        log.append(req.num)
        return Echo(value=req.value, num=req.num)

    async def one_way(ctx: g.ServerCtx, req: Echo) -> None:
        log.append(req.num)

    server.register_handler(ECHO_RPC, g.unary_handler(rpc))
    server.register_handler(ECHO_UNICAST, g.one_way_handler(one_way))
    return server


async def test_a_thousand_requests_reach_the_handler_and_reply_in_order() -> None:
    log: list[int] = []
    async with running(echo_server(log)) as address, raw_node_stream(address) as raw:
        for i in range(1, N + 1):  # all queued at once: they arrive in few big reads
            raw.send(i, ECHO_RPC, Echo(num=i))
        replies = await raw.receive_n(N)
    assert log == list(range(1, N + 1))
    assert [r.seq for r in replies] == list(range(1, N + 1))
    assert [Echo.FromString(r.payload).num for r in replies] == list(range(1, N + 1))


async def test_a_thousand_calls_of_one_gorums_client_arrive_in_call_order() -> None:
    log: list[int] = []
    async with running(echo_server(log)) as address, g.Manager() as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        await g.rpc_call(node.context(), Echo(num=0), ECHO_RPC, Echo)  # connected
        for i in range(1, N):
            await g.unicast(node.context(), Echo(num=i), ECHO_UNICAST, ignore_errors=True)
        last = await g.rpc_call(node.context(), Echo(num=N), ECHO_RPC, Echo)
    assert last.num == N
    assert log == list(range(N + 1))


def gated_server(log: list[str], gates: dict[int, anyio.Event], release: set[int],
                 slow: set[int] = frozenset()) -> g.Server:  # type: ignore[assignment]
    """ECHO_RPC handler: logs start/end of request ``num``; releases first if
    num is in ``release``; waits for ``gates[num]`` if present; sleeps a
    little if num is in ``slow`` (giving a wrongly started request time to run)."""
    server = g.Server()

    async def handler(ctx: g.ServerCtx, req: Echo) -> Echo:
        log.append(f"start{req.num}")
        if req.num in release:
            ctx.release()
        if req.num in gates:
            await gates[req.num].wait()
        if req.num in slow:
            await anyio.sleep(0.05)
        log.append(f"end{req.num}")
        return Echo(num=req.num)

    server.register_handler(ECHO_RPC, g.unary_handler(handler))
    return server


async def test_release_lets_the_next_request_run_and_its_reply_leave_first() -> None:
    log: list[str] = []
    gate = anyio.Event()
    server = gated_server(log, {1: gate}, release={1})
    server.register_handler(ECHO_UNICAST, g.one_way_handler(
        lambda ctx, req: _set(gate)))
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(num=1))  # releases, then waits for request 2
        raw.send(2, ECHO_RPC, Echo(num=2))
        raw.send(3, ECHO_UNICAST, Echo(num=3))  # opens the gate
        replies = await raw.receive_n(2)  # would time out if 1 blocked 2
    assert [r.seq for r in replies] == [2, 1]
    assert log == ["start1", "start2", "end2", "end1"]


async def _set(event: anyio.Event) -> None:
    event.set()


async def test_without_release_a_slow_handler_blocks_the_next_request() -> None:
    log: list[str] = []
    async with running(gated_server(log, {}, release=set(), slow={1})) as address, \
            raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(num=1))
        raw.send(2, ECHO_RPC, Echo(num=2))
        replies = await raw.receive_n(2)
    assert [r.seq for r in replies] == [1, 2]
    assert log == ["start1", "end1", "start2", "end2"]


async def test_release_is_idempotent() -> None:
    log: list[str] = []
    gate = anyio.Event()
    server = g.Server()

    async def handler(ctx: g.ServerCtx, req: Echo) -> Echo:
        log.append(f"start{req.num}")
        if req.num == 1:
            ctx.release()
            ctx.release()
            assert ctx.released
            await gate.wait()
        elif req.num == 2:
            await anyio.sleep(0.05)  # a second receive loop would start 3 meanwhile
        else:
            gate.set()
        log.append(f"end{req.num}")
        return Echo(num=req.num)

    server.register_handler(ECHO_RPC, g.unary_handler(handler))
    async with running(server) as address, raw_node_stream(address) as raw:
        for i in (1, 2, 3):
            raw.send(i, ECHO_RPC, Echo(num=i))
        replies = await raw.receive_n(3)
    assert log == ["start1", "start2", "end2", "start3", "end3", "end1"]
    assert [r.seq for r in replies] == [2, 3, 1]


async def test_release_after_the_handler_returned_does_nothing() -> None:
    log: list[str] = []
    kept: list[g.ServerCtx] = []
    server = g.Server()

    async def handler(ctx: g.ServerCtx, req: Echo) -> Echo:
        log.append(f"start{req.num}")
        if req.num == 1:
            kept.append(ctx)  # returns without releasing
        elif req.num == 2:
            kept[0].release()  # too late: request 1 is done
        elif req.num == 3:
            await anyio.sleep(0.05)  # a second receive loop would start 4 meanwhile
        log.append(f"end{req.num}")
        return Echo(num=req.num)

    server.register_handler(ECHO_RPC, g.unary_handler(handler))
    async with running(server) as address, raw_node_stream(address) as raw:
        for i in (1, 2, 3, 4):
            raw.send(i, ECHO_RPC, Echo(num=i))
        replies = await raw.receive_n(4)
    assert log == [f"{what}{i}" for i in (1, 2, 3, 4) for what in ("start", "end")]
    assert [r.seq for r in replies] == [1, 2, 3, 4]


async def test_many_released_handlers_run_concurrently_and_all_reply() -> None:
    started = 0
    all_started = anyio.Event()
    n = 50
    server = g.Server()

    async def handler(ctx: g.ServerCtx, req: Echo) -> Echo:
        nonlocal started
        ctx.release()
        started += 1
        if started == n:
            all_started.set()
        await all_started.wait()  # only returns once every request is in flight
        return Echo(num=req.num)

    server.register_handler(ECHO_RPC, g.unary_handler(handler))
    async with running(server) as address, raw_node_stream(address) as raw:
        for i in range(1, n + 1):
            raw.send(i, ECHO_RPC, Echo(num=i))
        with anyio.fail_after(WAIT):
            replies = await raw.receive_n(n)
    assert sorted(r.seq for r in replies) == list(range(1, n + 1))
