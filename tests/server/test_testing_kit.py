"""The testing kit itself: StopFunc, pre_connect, quorum_call_error, the
pytest fixtures, and leak checks that really fail when something leaks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
from _server_kit import WAIT, address_of, raw_node_stream, running

import gorums_h2 as g
from gorums_h2.testing import (
    ECHO_QC,
    ECHO_RPC,
    STREAM_QC,
    Echo,
    LeakError,
    StopFunc,
    TestServers,
    assert_no_leaks,
    closer,
    pending_routes,
    quorum_call_error,
    stream_server_fn,
    task_count,
    test_configuration,
    test_context,
    test_node,
    test_servers,
)

pytestmark = pytest.mark.anyio

NO_RETRY = g.Backoff(base_delay=60)  # nodes stay down once they failed


def qc(cfg: g.Configuration, value: str = "q") -> g.Responses[Echo]:
    return g.quorum_call(cfg.context(), Echo(value=value), ECHO_QC, Echo)


async def test_stop_func_stops_the_chosen_servers() -> None:
    stop = StopFunc()
    with pytest.raises(RuntimeError):
        stop()  # not bound to servers yet
    async with test_configuration(3, stop_func=stop, backoff=NO_RETRY) as cfg:
        await qc(cfg).all()
        stop(0, 2)
        with anyio.fail_after(WAIT):
            await cfg.nodes()[0].wait_disconnected()
            await cfg.nodes()[2].wait_disconnected()
        assert (await g.rpc_call(cfg.nodes()[1].context(), Echo(value="1"), ECHO_RPC, Echo)
                ).node_id == 1
        with pytest.raises(g.StatusError) as info:
            await g.rpc_call(cfg.nodes()[0].context(), Echo(), ECHO_RPC, Echo)
        assert info.value.code == g.StatusCode.UNAVAILABLE
        with pytest.raises(g.IncompleteError) as qc_info:
            await qc(cfg).majority()
        assert sorted(qc_info.value.node_errors) == [0, 2]
        stop()  # the rest (stopping 0 and 2 again is a no-op)
        with anyio.fail_after(WAIT):
            await cfg.nodes()[1].wait_disconnected()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_pre_connect_stops_servers_before_nodes_connect_so_calls_fail_fast(
        kind: str) -> None:
    ran: list[int] = []

    def stop_sync(stop: Callable[..., None]) -> None:
        ran.append(1)
        stop()

    async def stop_async(stop: Callable[..., None]) -> None:
        await anyio.lowlevel.checkpoint()
        stop_sync(stop)

    pre: Callable[[Callable[..., None]], Awaitable[None] | None] = (
        stop_sync if kind == "sync" else stop_async)
    async with test_node(pre_connect=pre, backoff=NO_RETRY) as node:
        assert ran == [1]
        with pytest.raises(g.StatusError) as info, anyio.fail_after(WAIT):
            await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
        assert info.value.code == g.StatusCode.UNAVAILABLE
        assert not node.connected
    async with test_configuration(3, pre_connect=lambda stop: stop(1), backoff=NO_RETRY) as cfg:
        with pytest.raises(g.IncompleteError) as qc_info, anyio.fail_after(WAIT):
            await qc(cfg).all()
        assert list(qc_info.value.node_errors) == [1]
        assert (await qc(cfg, "m").majority()).value == "m"


async def test_quorum_call_error_builds_what_quorum_calls_raise() -> None:
    unavailable = g.StatusError(g.StatusCode.UNAVAILABLE, "down")
    err = quorum_call_error({2: unavailable, 0: ValueError("bad")})
    assert isinstance(err, g.IncompleteError) and err.cause is g.IncompleteError
    assert list(err.node_errors) == [0, 2] and err.node_errors[2] is unavailable
    assert "incomplete call" in str(err) and "node 2: UNAVAILABLE: down" in str(err)
    send = quorum_call_error({1: unavailable}, g.SendFailureError)
    assert isinstance(send, g.SendFailureError) and not isinstance(send, g.IncompleteError)
    async with test_configuration(3) as cfg:
        assert cfg.manager is not None
        assert cfg.manager.new_configuration(cfg.without_errors(err)).node_ids() == [1]


async def test_stream_server_fn_and_an_existing_manager() -> None:
    async with g.Manager() as mgr:
        async with test_configuration(2, stream_server_fn, manager=mgr) as cfg:
            got = []
            async for r in g.quorum_call_stream(cfg.context(), Echo(value="s", num=2),
                                                STREAM_QC, Echo):
                assert r.value is not None
                got.append((r.node_id, r.value.value))
                if len(got) == 4:
                    break
            assert sorted(got) == [(0, "s-0"), (0, "s-1"), (1, "s-0"), (1, "s-1")]
        assert not mgr.closed  # the caller's manager (Go's WithManager) stays open


async def test_pytest_fixtures(
        gorums_servers: Callable[..., Awaitable[TestServers]],
        gorums_configuration: Callable[..., Awaitable[g.Configuration]],
        gorums_node: Callable[..., Awaitable[g.Node]]) -> None:
    servers = await gorums_servers(2)
    assert len(servers.addresses) == 2 and len(set(servers.addresses)) == 2
    async with g.Manager() as mgr:
        node = mgr.new_configuration(g.with_node_list([servers.addresses[1]])).nodes()[0]
        assert (await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)).node_id == 1
    cfg = await gorums_configuration(3)
    assert cfg.node_ids() == [0, 1, 2]
    assert sorted(await qc(cfg).collect_all()) == [0, 1, 2]
    streaming = await gorums_configuration(1, stream_server_fn)
    first = await g.quorum_call_stream(streaming.context(), Echo(value="f", num=1),
                                       STREAM_QC, Echo).first()
    assert first.value == "f-0"
    single = await gorums_node()
    assert (await g.rpc_call(single.context(), Echo(value="n"), ECHO_RPC, Echo)).value == "n"


async def test_test_context_is_a_deadline_and_closer_closes_anything() -> None:
    with pytest.raises(TimeoutError), test_context(0.01):
        await anyio.sleep_forever()
    with test_context(WAIT):
        await anyio.lowlevel.checkpoint()
    closed: list[str] = []

    class Sync:
        def close(self) -> None:
            closed.append("sync")

    class Async:
        async def aclose(self) -> None:
            closed.append("async")

    await closer(Sync())()
    await closer(Async())()
    async with g.Manager() as mgr:
        await closer(mgr)()
        assert mgr.closed
    assert closed == ["sync", "async"]


# ---- the leak checks fail when something leaks ----


async def test_leak_check_reports_a_task_left_running() -> None:
    baseline = task_count()
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.sleep_forever)
        await anyio.lowlevel.checkpoint()
        with pytest.raises(LeakError, match="1 task"):
            await assert_no_leaks(baseline, settle=0.05)
        tg.cancel_scope.cancel()
    await assert_no_leaks(baseline, settle=0.5)


async def test_leak_check_reports_an_open_server_connection() -> None:
    server = g.Server()
    async with running(server) as address:
        baseline = task_count()
        async with raw_node_stream(address):
            with pytest.raises(LeakError, match="server connection"):
                await assert_no_leaks(baseline, servers=[server], settle=0.05)


async def test_leak_check_reports_reply_routes_of_calls_in_flight() -> None:
    server = g.Server()
    entered = anyio.Event()

    async def never(ctx: g.ServerCtx, req: Echo) -> Echo:
        entered.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    server.register_handler(ECHO_RPC, g.unary_handler(never))
    async with running(server) as address, g.Manager() as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        baseline = task_count()
        async with anyio.create_task_group() as tg:
            tg.start_soon(g.rpc_call, node.context(), Echo(), ECHO_RPC, Echo)
            with anyio.fail_after(WAIT):
                await entered.wait()
            assert pending_routes([mgr]) == 1
            with pytest.raises(LeakError, match="1 reply route"):
                await assert_no_leaks(baseline, managers=[mgr], settle=0.05)
            tg.cancel_scope.cancel()
        assert pending_routes([mgr]) == 0


async def test_test_servers_fails_at_exit_when_a_task_outlives_the_block() -> None:
    async with anyio.create_task_group() as outer:
        with pytest.raises(LeakError, match="task"):
            async with test_servers(1):
                outer.start_soon(anyio.sleep_forever)
        outer.cancel_scope.cancel()
