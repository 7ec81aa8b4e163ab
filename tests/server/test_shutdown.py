"""Client disconnects mid-handler, graceful stop with calls in flight, hard stop."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from _server_kit import WAIT, address_of, eventually, raw_node_stream, running

import gorums_h2 as g
from gorums_h2.testing import ECHO_RPC, Echo, assert_no_leaks, task_count
from gorums_h2.wire.errors import ConnectionBroken, EndOfStream

pytestmark = pytest.mark.anyio


class Blocking:
    """ECHO_RPC handler: value "block" waits for ``proceed`` (after releasing
    if ``release``); records whether it saw cancellation; anything else echoes."""

    def __init__(self, release: bool = False) -> None:
        self.release = release
        self.entered = anyio.Event()
        self.proceed = anyio.Event()
        self.cancelled = anyio.Event()
        self.finished = anyio.Event()
        self.ctx: g.ServerCtx | None = None
        self.server = g.Server()
        self.server.register_handler(ECHO_RPC, g.unary_handler(self.handle))

    async def handle(self, ctx: g.ServerCtx, req: Echo) -> Echo:
        if req.value != "block":
            return Echo(value=req.value)
        self.ctx = ctx
        if self.release:
            ctx.release()
        self.entered.set()
        try:
            await self.proceed.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled.set()
            raise
        self.finished.set()
        return Echo(value="done")


async def _wait(event: anyio.Event) -> None:
    with anyio.fail_after(WAIT):
        await event.wait()


@pytest.mark.parametrize("release", [False, True], ids=["inline", "released"])
@pytest.mark.parametrize("how", ["close connection", "reset stream", "close manager"])
async def test_client_disconnect_cancels_the_handler_and_nothing_leaks(
        how: str, release: bool) -> None:
    svc = Blocking(release)
    async with running(svc.server) as address:
        baseline = task_count()
        if how == "close manager":
            async with g.Manager() as mgr:
                node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_call_ignoring_errors, node, "block")
                    await _wait(svc.entered)
                    tg.cancel_scope.cancel()
        else:
            async with raw_node_stream(address) as raw:
                raw.send(1, ECHO_RPC, Echo(value="block"))
                await _wait(svc.entered)
                if how == "reset stream":
                    raw.stream.cancel()
                    await _wait(svc.cancelled)
        await _wait(svc.cancelled)
        assert svc.ctx is not None and svc.ctx.cancelled
        assert not svc.finished.is_set()
        await assert_no_leaks(baseline, servers=[svc.server])


async def _call_ignoring_errors(node: g.Node, value: str) -> None:
    try:
        await g.rpc_call(node.context(), Echo(value=value), ECHO_RPC, Echo)
    except g.StatusError:
        pass


async def test_ctx_cancelled_is_false_while_the_client_is_there() -> None:
    svc = Blocking()
    async with running(svc.server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="block"))
        await _wait(svc.entered)
        assert svc.ctx is not None and not svc.ctx.cancelled
        svc.proceed.set()
        assert Echo.FromString((await raw.receive()).payload).value == "done"


async def _rpc(node: g.Node, value: str, results: dict[str, Any]) -> None:
    try:
        results[value] = await g.rpc_call(node.context(), Echo(value=value), ECHO_RPC, Echo)
    except g.StatusError as exc:
        results[value] = exc


async def test_graceful_stop_finishes_in_flight_calls_then_clients_see_node_shutdown() -> None:
    svc = Blocking(release=True)  # released: the stream keeps reading while it blocks
    results: dict[str, Any] = {}
    async with running(svc.server) as address, \
            g.Manager(backoff=g.Backoff(base_delay=60)) as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        await g.rpc_call(node.context(), Echo(value="hello"), ECHO_RPC, Echo)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_rpc, node, "block", results)
            await _wait(svc.entered)
            tg.start_soon(svc.server.graceful_stop)
            await eventually(  # the client got the GOAWAY
                lambda: node.channel.conn is not None and node.channel.conn.core.goaway)
            # a new call on the still-open stream fails fast while "block" is in flight
            with pytest.raises(g.StatusError) as info, anyio.fail_after(WAIT):
                await g.rpc_call(node.context(), Echo(value="late"), ECHO_RPC, Echo)
            assert (info.value.code, info.value.message) == (
                g.StatusCode.UNAVAILABLE, "server is shutting down")
            assert not svc.finished.is_set() and "block" not in results
            svc.proceed.set()
        assert isinstance(results["block"], Echo) and results["block"].value == "done"
        with anyio.fail_after(WAIT):
            await node.wait_disconnected()
        assert isinstance(node.last_err, g.NodeShutdownError)
        assert node.last_err.code == g.StatusCode.UNAVAILABLE
        with pytest.raises(g.NodeShutdownError), anyio.fail_after(WAIT):
            await g.rpc_call(node.context(), Echo(value="after"), ECHO_RPC, Echo)
    assert not svc.cancelled.is_set()


async def test_graceful_stop_on_the_wire_goaway_reply_then_unavailable_trailers() -> None:
    svc = Blocking(release=True)
    async with running(svc.server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="block"))
        await _wait(svc.entered)
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.server.graceful_stop)
            await eventually(lambda: raw.conn.core.goaway)
            goaway = raw.conn.core.goaway
            assert goaway.h2_code == 0 and goaway.last_stream_id >= raw.stream.stream_id
            raw.send(2, ECHO_RPC, Echo(value="late"))
            late = await raw.receive()
            assert (late.seq, late.code, late.message) == (
                2, g.StatusCode.UNAVAILABLE, "server is shutting down")
            svc.proceed.set()
            done = await raw.receive()
            assert (done.seq, Echo.FromString(done.payload).value) == (1, "done")
            with pytest.raises(g.StatusError) as info, anyio.fail_after(WAIT):
                await raw.receive()
            assert (info.value.code, info.value.message) == (
                g.StatusCode.UNAVAILABLE, "server is shutting down")


async def test_graceful_stop_refuses_new_connections() -> None:
    svc = Blocking(release=True)
    async with running(svc.server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="block"))
        await _wait(svc.entered)
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.server.graceful_stop)
            await eventually(lambda: raw.conn.core.goaway)
            async with g.Manager(backoff=g.Backoff(base_delay=60)) as mgr:
                node = mgr.new_configuration(
                    g.with_node_list([address_of(address)])).nodes()[0]
                with pytest.raises(g.StatusError) as info, anyio.fail_after(WAIT):
                    await g.rpc_call(node.context(), Echo(value="new"), ECHO_RPC, Echo)
                assert info.value.code == g.StatusCode.UNAVAILABLE
            svc.proceed.set()


async def test_grace_expiry_cancels_handlers_still_running() -> None:
    svc = Blocking()
    results: dict[str, Any] = {}
    async with running(svc.server) as address, \
            g.Manager(backoff=g.Backoff(base_delay=60)) as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        async with anyio.create_task_group() as tg:
            tg.start_soon(_rpc, node, "block", results)
            await _wait(svc.entered)
            with anyio.fail_after(WAIT):
                await svc.server.graceful_stop(grace=0.2)
        assert svc.cancelled.is_set() and not svc.finished.is_set()
        err = results["block"]
        assert isinstance(err, g.StatusError) and err.code == g.StatusCode.UNAVAILABLE


async def test_hard_stop_breaks_calls_with_connection_broken_not_node_shutdown() -> None:
    svc = Blocking()
    results: dict[str, Any] = {}
    async with running(svc.server) as address, \
            g.Manager(backoff=g.Backoff(base_delay=60)) as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        async with anyio.create_task_group() as tg:
            tg.start_soon(_rpc, node, "block", results)
            await _wait(svc.entered)
            svc.server.stop()
        await _wait(svc.cancelled)
        err = results["block"]
        assert isinstance(err, ConnectionBroken) and not isinstance(err, g.NodeShutdownError)
        with anyio.fail_after(WAIT):
            await node.wait_disconnected()
        assert isinstance(node.last_err, ConnectionBroken)
        assert not isinstance(node.last_err, g.NodeShutdownError)
        with pytest.raises(ConnectionBroken), anyio.fail_after(WAIT):
            await g.rpc_call(node.context(), Echo(value="after"), ECHO_RPC, Echo)


async def test_graceful_stop_with_idle_clients_and_without_clients_returns() -> None:
    idle = Blocking()
    async with running(idle.server) as address, \
            g.Manager(backoff=g.Backoff(base_delay=60)) as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        await g.rpc_call(node.context(), Echo(value="hello"), ECHO_RPC, Echo)
        with anyio.fail_after(WAIT):
            await idle.server.graceful_stop()
            await node.wait_disconnected()
        assert isinstance(node.last_err, g.NodeShutdownError)
    lonely = Blocking()
    async with running(lonely.server):
        with anyio.fail_after(WAIT):
            await lonely.server.graceful_stop()


async def test_half_close_lets_in_flight_requests_finish_then_ends_with_ok() -> None:
    # Go v0.11 ends a half-closed NodeStream with "Unknown: EOF"; we end it with OK
    svc = Blocking(release=True)
    async with running(svc.server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="block"))
        raw.send(2, ECHO_RPC, Echo(value="quick"))
        await _wait(svc.entered)
        raw.stream.end()  # half-close: no more requests
        quick = await raw.receive()
        assert (quick.seq, Echo.FromString(quick.payload).value) == (2, "quick")
        svc.proceed.set()
        done = await raw.receive()
        assert (done.seq, Echo.FromString(done.payload).value) == (1, "done")
        with pytest.raises(EndOfStream), anyio.fail_after(WAIT):
            await raw.stream.receive()
        assert raw.stream.status is None  # OK
