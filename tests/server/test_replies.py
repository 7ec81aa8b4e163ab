"""What goes back on the wire: streaming replies, one-way methods (nothing)."""

from __future__ import annotations

import pytest
from _server_kit import address_of, raw_node_stream, running

import gorums_h2 as g
from gorums_h2.testing import (
    ECHO_MULTICAST,
    ECHO_RPC,
    ECHO_UNICAST,
    STREAM_QC,
    Echo,
    echo_server_fn,
)

pytestmark = pytest.mark.anyio


async def test_stream_handler_sends_many_replies_with_the_request_seq() -> None:
    server = echo_server_fn(7)
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(41, STREAM_QC, Echo(value="s", num=5), entries=[("k", "v")])
        raw.send(42, ECHO_RPC, Echo(value="after"))
        replies = await raw.receive_n(6)
    assert [r.seq for r in replies] == [41] * 5 + [42]
    values = [Echo.FromString(r.payload) for r in replies[:5]]
    assert [(e.value, e.num, e.node_id) for e in values] == [
        (f"s-{k}", k, 7) for k in range(5)]
    assert all(r.md.method == STREAM_QC and r.entries == [("k", "v")] and r.code == 0
               for r in replies[:5])
    assert Echo.FromString(replies[5].payload).value == "after"


async def test_send_message_from_a_unary_handler_adds_replies_before_the_return() -> None:
    server = g.Server()

    async def handler(ctx: g.ServerCtx, req: Echo) -> Echo:
        await ctx.send_message(Echo(value="early-1"))
        await ctx.send_message(g.new_response_message(ctx.request, Echo(value="early-2")))
        return Echo(value="final")

    server.register_handler(ECHO_RPC, g.unary_handler(handler))
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(3, ECHO_RPC, Echo(), entries=[("a", "1")])
        replies = await raw.receive_n(3)
    assert [(r.seq, r.entries, Echo.FromString(r.payload).value) for r in replies] == [
        (3, [("a", "1")], "early-1"), (3, [("a", "1")], "early-2"), (3, [("a", "1")], "final")]


async def test_streaming_quorum_call_end_to_end() -> None:
    async with running(echo_server_fn(0)) as a0, running(echo_server_fn(1)) as a1, \
            g.Manager() as mgr:
        cfg = mgr.new_configuration(g.with_node_map({address_of(a0): 0, address_of(a1): 1}))
        got: list[tuple[int, str]] = []
        responses = g.quorum_call_stream(cfg.context(), Echo(value="q", num=3), STREAM_QC, Echo)
        async for r in responses:
            assert r.err is None and r.value is not None
            got.append((r.node_id, r.value.value))
            if len(got) == 6:
                break
    assert sorted(got) == [(n, f"q-{k}") for n in (0, 1) for k in range(3)]


@pytest.mark.parametrize("method", [ECHO_UNICAST, ECHO_MULTICAST])
async def test_one_way_handler_runs_and_nothing_is_sent_back(method: str) -> None:
    server = echo_server_fn(0)
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(1, method, Echo(value="one-way"))
        raw.send(2, ECHO_RPC, Echo(value="rpc"))
        first = await raw.receive()
        # ordered: had the one-way message been answered, its reply came first
        assert first.seq == 2
        assert raw.nothing_pending()
    assert [e.value for e in server.service.received] == ["one-way"]  # type: ignore[attr-defined]


async def test_one_way_handler_errors_are_not_sent_back_either() -> None:
    server = g.Server()

    async def fail(ctx: g.ServerCtx, req: Echo) -> None:
        raise g.StatusError(g.StatusCode.ABORTED, "one-way failure")

    async def crash(ctx: g.ServerCtx, req: Echo) -> None:
        raise RuntimeError("one-way crash")

    async def rpc(ctx: g.ServerCtx, req: Echo) -> Echo:
        return req

    server.register_handler(ECHO_UNICAST, g.one_way_handler(fail))
    server.register_handler(ECHO_MULTICAST, g.one_way_handler(crash))
    server.register_handler(ECHO_RPC, g.unary_handler(rpc))
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_UNICAST, Echo())
        raw.send(2, ECHO_MULTICAST, Echo())
        raw.send(3, ECHO_RPC, Echo(value="still here"))
        reply = await raw.receive()
        assert reply.seq == 3 and Echo.FromString(reply.payload).value == "still here"
        assert raw.nothing_pending()


async def test_gorums_unicast_and_multicast_reach_the_handlers() -> None:
    servers = [echo_server_fn(0), echo_server_fn(1)]
    async with running(servers[0]) as a0, running(servers[1]) as a1, g.Manager() as mgr:
        cfg = mgr.new_configuration(g.with_node_map({address_of(a0): 0, address_of(a1): 1}))
        await g.multicast(cfg.context(), Echo(value="mc"), ECHO_MULTICAST)
        await g.unicast(cfg.nodes()[1].context(), Echo(value="uc"), ECHO_UNICAST)
        for node in cfg:  # ordered after the one-way messages
            await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
    assert [e.value for e in servers[0].service.received] == ["mc"]  # type: ignore[attr-defined]
    assert [e.value for e in servers[1].service.received] == ["mc", "uc"]  # type: ignore[attr-defined]
