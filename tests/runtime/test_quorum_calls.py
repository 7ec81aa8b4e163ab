"""Quorum calls end to end over real TCP: terminal methods, iteration, futures, correctables."""

from __future__ import annotations

import anyio
import pytest

import gorums_h2 as g
from gorums_h2.testing import (
    ECHO_QC,
    STREAM_QC,
    Echo,
    StopFunc,
    pending_routes,
    test_configuration,
)

pytestmark = pytest.mark.anyio


def qc(cfg: g.Configuration, value: str = "x", **kw: object) -> g.Responses[Echo]:
    return g.quorum_call(cfg.context(), Echo(value=value, **kw), ECHO_QC, Echo)  # type: ignore[arg-type]


async def test_terminal_methods_return_a_successful_reply(wire: str) -> None:
    async with test_configuration(3, wire=wire) as cfg:
        for method in ("first", "majority", "all"):
            reply = await getattr(qc(cfg, method), method)()
            assert reply.value == method and reply.node_id in (0, 1, 2)
        reply = await qc(cfg, "t").threshold(2)
        assert reply.value == "t"
        with pytest.raises(ValueError):
            await qc(cfg).threshold(0)
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]


async def test_iteration_yields_one_reply_per_node_then_ends(wire: str) -> None:
    async with test_configuration(3, wire=wire) as cfg:
        replies = [r async for r in qc(cfg, "it")]
        assert sorted(r.node_id for r in replies) == [0, 1, 2]
        assert all(r.err is None and r.value is not None and r.value.node_id == r.node_id
                   for r in replies)
        collected = await qc(cfg).collect_all()
        assert sorted(collected) == [0, 1, 2]
        assert len(await qc(cfg).collect_n(2)) == 2
        only_one = [r async for r in qc(cfg).filter(lambda r: r.node_id == 1)]
        assert [r.node_id for r in only_one] == [1]


async def test_one_node_down_majority_succeeds_and_all_reports_the_node(wire: str) -> None:
    stop = StopFunc()
    async with test_configuration(3, stop_func=stop, backoff=g.Backoff(base_delay=30),
                                  wire=wire) as cfg:
        await qc(cfg).all()  # everyone connected
        stop(2)
        with anyio.fail_after(5):
            await cfg.nodes()[2].wait_disconnected()
        assert (await qc(cfg, "m").majority()).value == "m"
        with pytest.raises(g.IncompleteError) as info:
            await qc(cfg).all()
        assert list(info.value.node_errors) == [2]
        err = info.value.node_errors[2]
        assert isinstance(err, g.StatusError) and err.code == g.StatusCode.UNAVAILABLE
        assert info.value.cause is g.IncompleteError
        ok = [r async for r in qc(cfg).ignore_errors()]
        assert sorted(r.node_id for r in ok) == [0, 1]
        smaller = cfg.manager.new_configuration(cfg.without_errors(info.value))  # type: ignore[union-attr]
        assert smaller.node_ids() == [0, 1]


async def test_slow_node_does_not_delay_first_or_majority(wire: str) -> None:
    class Slow(g.Server):
        pass

    def srv_fn(i: int) -> g.Server:
        from gorums_h2.testing import EchoService, register_echo_service

        server = g.Server()
        service = EchoService(i)
        original = service.echo_qc

        async def echo_qc(ctx: g.ServerCtx, req: Echo) -> Echo:
            if i == 0:
                await anyio.sleep(10)
            return await original(ctx, req)

        service.echo_qc = echo_qc  # type: ignore[method-assign]
        register_echo_service(server, service)
        return server

    async with test_configuration(3, srv_fn, wire=wire) as cfg:
        with anyio.fail_after(3):
            assert (await qc(cfg).first()).node_id in (1, 2)
            assert (await qc(cfg).majority()).node_id in (1, 2)
        # the slow node's routes are gone once the calls returned
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]


async def test_timeout_reports_missing_nodes_as_deadline_exceeded(wire: str) -> None:
    async with test_configuration(3, wire=wire) as cfg:
        ctx = cfg.context(timeout=0.2)
        responses = g.quorum_call(ctx, Echo(value="t", delay_ms=2000), ECHO_QC, Echo)
        with anyio.fail_after(5), pytest.raises(g.IncompleteError) as info:
            await responses.majority()
        assert sorted(info.value.node_errors) == [0, 1, 2]
        assert all(e.code == g.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
                   for e in info.value.node_errors.values())
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]


async def test_cancelled_calls_leave_no_routes_and_stream_keeps_working() -> None:
    # not run per wire: a long loop whose subject (routes) is wire-independent;
    # the count is exact, so a route left by any one cancelled call fails it
    async with test_configuration(3) as cfg:
        for _ in range(2_000):
            with anyio.move_on_after(0):
                await qc(cfg).majority()
        with anyio.move_on_after(0.05):
            await qc(cfg, delay_ms=300).all()
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]
        assert (await qc(cfg, "after").all()).value == "after"


async def test_async_futures_send_at_once_and_resolve(wire: str) -> None:
    async with test_configuration(3, wire=wire) as cfg:
        futures = [qc(cfg, f"f{i}").async_majority() for i in range(10)]
        futures.append(qc(cfg, "first").async_first())
        futures.append(qc(cfg, "all").async_all())
        futures.append(qc(cfg, "two").async_threshold(2))
        values = [(await f).value for f in futures]
        assert values == [f"f{i}" for i in range(10)] + ["first", "all", "two"]
        assert all(f.done() for f in futures)


async def test_correctable_levels_and_incomplete(wire: str) -> None:
    stop = StopFunc()
    async with test_configuration(3, stop_func=stop, backoff=g.Backoff(base_delay=30),
                                  wire=wire) as cfg:
        corr = qc(cfg, "c").correctable(3)
        with anyio.fail_after(5):
            await corr.watch(2)
            assert corr.level >= 2
            await corr.wait()
        value, level, err = corr.get()
        assert (value.value if value else None, level, err) == ("c", 3, None)
        stop(0)
        with anyio.fail_after(5):
            await cfg.nodes()[0].wait_disconnected()
        corr = qc(cfg, "d").correctable(3)
        with anyio.fail_after(5):
            await corr.wait()
        value, level, err = corr.get()
        assert level == 2 and isinstance(err, g.IncompleteError)


async def test_streaming_quorum_call_yields_many_replies_per_node(wire: str) -> None:
    async with test_configuration(3, wire=wire) as cfg:
        got: list[tuple[int, str]] = []
        with anyio.move_on_after(1):
            async for r in g.quorum_call_stream(cfg.context(), Echo(value="s", num=4), STREAM_QC,
                                                Echo):
                assert r.value is not None
                got.append((r.node_id, r.value.value))
                if len(got) == 12:
                    break
        assert sorted(got) == sorted((n, f"s-{k}") for n in range(3) for k in range(4))
        corr = g.quorum_call_stream(cfg.context(), Echo(value="c", num=3), STREAM_QC,
                                    Echo).correctable(7)
        with anyio.fail_after(5):
            await corr.wait()
        assert corr.get()[1] == 7


async def test_empty_configuration_and_type_mismatch(wire: str) -> None:
    async with test_configuration(1, wire=wire) as cfg:
        from google.protobuf.empty_pb2 import Empty

        with pytest.raises(g.TypeMismatchError):
            g.quorum_call(cfg.context(), Echo(), ECHO_QC, Empty)
        with pytest.raises(g.TypeMismatchError):
            g.quorum_call(cfg.context(), Echo(), ECHO_QC, g.Message)  # type: ignore[type-var]
        from gorums_h2.codec import UnknownMethodError

        with pytest.raises(UnknownMethodError):
            g.quorum_call(cfg.context(), Echo(), "no.Such.Method", Echo)
