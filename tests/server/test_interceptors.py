"""Server interceptors: Go's chain semantics over real TCP."""

from __future__ import annotations

from typing import Any

import pytest
from _server_kit import raw_node_stream, running

import gorums_h2 as g
from gorums_h2.testing import ECHO_RPC, ECHO_UNICAST, Echo

pytestmark = pytest.mark.anyio


def tracing(name: str, trace: list[str]) -> g.Interceptor:
    async def interceptor(ctx: g.ServerCtx, req: g.Message[Any], nxt: g.Handler
                          ) -> g.Message[Any] | None:
        trace.append(f"{name} in")
        reply = await nxt(ctx, req)
        trace.append(f"{name} out")
        return reply

    return interceptor


def echo(trace: list[str]) -> g.Handler:
    async def handler(ctx: g.ServerCtx, req: Echo) -> Echo:
        trace.append(f"handler {req.value}")
        if req.value == "fail":
            raise g.StatusError(g.StatusCode.ABORTED, "handler failed")
        return Echo(value=req.value)

    return g.unary_handler(handler)


async def test_first_interceptor_runs_first_and_the_last_calls_the_handler() -> None:
    trace: list[str] = []
    server = g.Server(interceptors=[tracing("a", trace), tracing("b", trace),
                                    tracing("c", trace)])
    server.register_handler(ECHO_RPC, echo(trace))
    server.register_handler(ECHO_UNICAST, g.one_way_handler(
        lambda ctx, req: _note(trace, "one-way")))
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="x"))
        assert Echo.FromString((await raw.receive()).payload).value == "x"
        raw.send(2, ECHO_UNICAST, Echo())
        raw.send(3, ECHO_RPC, Echo(value="y"))
        assert (await raw.receive()).seq == 3
    chain = ["a in", "b in", "c in", "handler x", "c out", "b out", "a out"]
    assert trace[:7] == chain
    assert trace[7:14] == ["a in", "b in", "c in", "one-way", "c out", "b out", "a out"]


async def _note(trace: list[str], what: str) -> None:
    trace.append(what)


async def test_interceptors_change_the_request_and_the_reply() -> None:
    trace: list[str] = []

    async def change_request(ctx: g.ServerCtx, req: g.Message[Any], nxt: g.Handler
                             ) -> g.Message[Any] | None:
        req.msg.value = req.msg.value.upper()
        return await nxt(ctx, req)

    async def change_reply(ctx: g.ServerCtx, req: g.Message[Any], nxt: g.Handler
                           ) -> g.Message[Any] | None:
        reply = await nxt(ctx, req)
        assert reply is not None
        reply.msg.value += "+seen"
        return reply

    server = g.Server(interceptors=[change_reply, change_request])
    server.register_handler(ECHO_RPC, echo(trace))
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="abc"), entries=[("k", "v")])
        raw.send(2, ECHO_RPC, Echo(value="fail"))
        ok, not_failed = await raw.receive_n(2)
    # "fail" became "FAIL" before the handler saw it: the handler did not fail
    assert trace == ["handler ABC", "handler FAIL"]
    assert (ok.seq, ok.entries, Echo.FromString(ok.payload).value) == (
        1, [("k", "v")], "ABC+seen")
    assert (not_failed.seq, not_failed.code) == (2, 0)
    assert Echo.FromString(not_failed.payload).value == "FAIL+seen"


async def test_an_interceptor_can_turn_a_handler_error_into_another_status() -> None:
    trace: list[str] = []

    async def change_error(ctx: g.ServerCtx, req: g.Message[Any], nxt: g.Handler
                           ) -> g.Message[Any] | None:
        try:
            return await nxt(ctx, req)
        except g.StatusError as exc:
            raise g.StatusError(g.StatusCode.UNAVAILABLE, f"wrapped: {exc.message}") from exc

    async def swallow_error(ctx: g.ServerCtx, req: g.Message[Any], nxt: g.Handler
                            ) -> g.Message[Any] | None:
        try:
            return await nxt(ctx, req)
        except g.StatusError:
            return g.new_response_message(req, Echo(value="recovered"))

    wrapping = g.Server(interceptors=[change_error])
    wrapping.register_handler(ECHO_RPC, echo(trace))
    recovering = g.Server(interceptors=[swallow_error])
    recovering.register_handler(ECHO_RPC, echo(trace))
    async with running(wrapping) as a1, running(recovering) as a2, \
            raw_node_stream(a1) as raw1, raw_node_stream(a2) as raw2:
        raw1.send(1, ECHO_RPC, Echo(value="fail"))
        raw2.send(1, ECHO_RPC, Echo(value="fail"))
        err = await raw1.receive()
        ok = await raw2.receive()
    assert (err.code, err.message) == (g.StatusCode.UNAVAILABLE, "wrapped: handler failed")
    assert ok.code == 0 and Echo.FromString(ok.payload).value == "recovered"
    assert trace == ["handler fail", "handler fail"]


async def test_an_interceptor_can_short_circuit_without_calling_the_handler() -> None:
    trace: list[str] = []

    async def auth(ctx: g.ServerCtx, req: g.Message[Any], nxt: g.Handler
                   ) -> g.Message[Any] | None:
        if ctx.metadata.get("token") != "secret":
            raise g.StatusError(g.StatusCode.PERMISSION_DENIED, "no token")
        return await nxt(ctx, req)

    async def cache(ctx: g.ServerCtx, req: g.Message[Any], nxt: g.Handler
                    ) -> g.Message[Any] | None:
        if req.msg.value == "cached":
            return g.new_response_message(req, Echo(value="from cache"))
        return await nxt(ctx, req)

    server = g.Server(interceptors=[auth, cache, tracing("inner", trace)])
    server.register_handler(ECHO_RPC, echo(trace))
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="x"))  # no token
        raw.send(2, ECHO_RPC, Echo(value="cached"), entries=[("token", "secret")])
        raw.send(3, ECHO_RPC, Echo(value="real"), entries=[("token", "secret")])
        denied, cached, real = await raw.receive_n(3)
    assert (denied.seq, denied.code, denied.message) == (
        1, g.StatusCode.PERMISSION_DENIED, "no token")
    assert (cached.seq, Echo.FromString(cached.payload).value) == (2, "from cache")
    assert (real.seq, Echo.FromString(real.payload).value) == (3, "real")
    assert trace == ["inner in", "handler real", "inner out"]
