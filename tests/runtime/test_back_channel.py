"""Server-initiated calls on the ``stream`` wire: a client serving its servers
(``Manager(server=...)``), ``ServerCtx.config()`` / ``client_config()``, and
what happens when a back-channel client leaves or a call is cancelled."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import gorums_h2 as g
from gorums_h2.examples.storage import storage_gorums as sg
from gorums_h2.examples.storage.server import StorageService, new_storage_server
from gorums_h2.examples.storage.storage_pb2 import (
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
)
from gorums_h2.inbound import CLIENT_ID_START

pytestmark = pytest.mark.anyio

WAIT = 10


@asynccontextmanager
async def serving(server: g.Server) -> AsyncIterator[str]:
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(server.serve_tcp, "127.0.0.1", 0)
        try:
            yield f"{host}:{port}"
        finally:
            server.stop()


async def eventually(condition: Callable[[], object]) -> None:
    """Poll ``condition`` until true (TimeoutError after WAIT s; no timing assumed)."""
    with anyio.fail_after(WAIT):
        while not condition():  # noqa: ASYNC110 (state of another task, no event to wait on)
            await anyio.sleep(0.005)


def client_storage(value: str = "client-value") -> g.Server:
    server = new_storage_server()
    server.service.store["client-key"] = (  # type: ignore[attr-defined]
        value, Timestamp(seconds=1700000010))
    return server


async def test_step_10_nested_read_through_the_back_channel() -> None:
    """Go master's storage client step 10: the server answers ReadNestedQC by
    calling ReadQC back on the client, over the client's own stream."""
    async with serving(new_storage_server()) as address, g.new_config(
            g.with_node_list([address]), wire="stream", server=client_storage()) as cfg:
        reply = await sg.read_nested_qc(cfg.nodes()[0].context(timeout=WAIT),
                                        ReadRequest(key="client-key"))
        assert (reply.OK, reply.value, reply.time.seconds) == (True, "client-value", 1700000010)
        # the write goes back to the client as a multicast
        write = WriteRequest(key="w", value="v", time=Timestamp(seconds=1))
        done = await sg.write_nested_multicast(cfg.nodes()[0].context(timeout=WAIT), write)
        assert done.new
        store = cfg.manager.server.service.store  # type: ignore[union-attr]
        await eventually(lambda: "w" in store)  # the multicast may arrive after the reply


async def test_nested_calls_without_peers_or_clients_fail_with_failed_precondition() -> None:
    async with serving(new_storage_server()) as address, g.new_config(
            g.with_node_list([address]), wire="stream") as cfg:
        with pytest.raises(g.StatusError) as info:
            await sg.read_nested_qc(cfg.nodes()[0].context(timeout=WAIT), ReadRequest(key="k"))
    assert info.value.code == g.StatusCode.FAILED_PRECONDITION


async def test_streams_are_classified_by_their_node_id_header() -> None:
    """Known peer N → config(); 0 or invalid → client_config() from 1<<20;
    unknown N or no header → neither."""
    seen: list[tuple[list[int], list[int]]] = []

    async def who(ctx: g.ServerCtx, req: ReadRequest) -> ReadResponse:
        seen.append((ctx.config().node_ids(), ctx.client_config().node_ids()))
        return ReadResponse(OK=True)

    server = g.Server(my_id=1, peers=[2])
    server.register_handler("proto.Storage.ReadRPC", g.unary_handler(who))
    async with serving(server) as address:
        for metadata, my_id in [(None, 2), (None, 0), ({"gorums-node-id": "x"}, None),
                                (None, 3), ({"gorums-node-id": "1"}, None), (None, None)]:
            options: dict[str, Any] = {"metadata": metadata}
            if my_id is not None:
                options["server"] = g.Server(my_id=my_id)
            async with g.new_config(g.with_node_list([address]), wire="stream",
                                    **options) as cfg:
                await sg.read_rpc(cfg.nodes()[0].context(timeout=WAIT), ReadRequest())
    # config() also holds this replica itself (ID 1, in process)
    assert seen == [([1, 2], []), ([1], [CLIENT_ID_START]), ([1], [CLIENT_ID_START + 1]),
                    ([1], []), ([1], []), ([1], [])]
    assert not server._inbound.peers and not server._inbound.clients  # all left


async def test_every_call_type_from_a_handler_on_client_config() -> None:
    """RPC, unicast, multicast and a quorum call from inside a handler."""
    calls: list[str] = []

    class Client(StorageService):
        async def write_rpc(self, ctx: g.ServerCtx, req: WriteRequest, /) -> WriteResponse:
            calls.append(f"rpc {req.value}")
            return WriteResponse(new=True)

        async def write_unicast(self, ctx: g.ServerCtx, req: WriteRequest, /) -> None:
            calls.append(f"unicast {req.value}")

        async def write_multicast(self, ctx: g.ServerCtx, req: WriteRequest, /) -> None:
            calls.append(f"multicast {req.value}")

    async def fan_out(ctx: g.ServerCtx, req: ReadRequest) -> ReadResponse:
        cfg = ctx.client_config()
        node = cfg.nodes()[0]
        await sg.write_rpc(node.context(timeout=WAIT), WriteRequest(value="1"))
        await sg.write_unicast(node.context(timeout=WAIT), WriteRequest(value="2"))
        await sg.write_multicast(cfg.context(timeout=WAIT), WriteRequest(value="3"))
        return await sg.read_qc(cfg.context(timeout=WAIT), req).first()

    server = g.Server()
    server.register_handler("proto.Storage.ReadRPC", g.unary_handler(fan_out))
    mine = g.Server()
    sg.register_storage_server(mine, Client())
    async with serving(server) as address, g.new_config(
            g.with_node_list([address]), wire="stream", server=mine) as cfg:
        reply = await sg.read_rpc(cfg.nodes()[0].context(timeout=WAIT), ReadRequest(key="k"))
    assert reply.OK is False  # the client's empty store answered the ReadQC
    # each request runs in its own task: the one-way ones may finish in any order
    assert calls[0] == "rpc 1" and sorted(calls[1:]) == ["multicast 3", "unicast 2"]


class Blocking(StorageService):
    """A client store whose ReadQC waits until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.started = anyio.Event()
        self.release = anyio.Event()

    async def read_qc(self, ctx: g.ServerCtx, req: ReadRequest, /) -> ReadResponse:
        self.started.set()
        await self.release.wait()
        return ReadResponse(OK=True, value="late")


def nested_server(outcome: list[BaseException | ReadResponse],
                  scope_holder: list[anyio.CancelScope] | None = None) -> g.Server:
    """ReadRPC → ReadQC on the back-channel clients; records what it got."""

    async def nested(ctx: g.ServerCtx, req: ReadRequest) -> ReadResponse:
        cfg = ctx.client_config()
        reply = ReadResponse(OK=False, value="cancelled")
        with anyio.CancelScope() as scope:
            if scope_holder is not None:
                scope_holder.append(scope)
            try:
                reply = await sg.read_qc(cfg.context(timeout=WAIT), req).first()
            except g.QuorumCallError as exc:
                outcome.append(exc)
                raise
            outcome.append(reply)
        return reply

    server = g.Server()
    server.register_handler("proto.Storage.ReadRPC", g.unary_handler(nested))
    return server


async def test_a_client_that_leaves_mid_call_fails_the_call_and_leaves_no_routes() -> None:
    """A plain client's request makes the server call back-channel client B;
    B leaves meanwhile: the nested call fails naming B, and no route is left."""
    outcome: list[BaseException | ReadResponse] = []
    server = nested_server(outcome)
    store = Blocking()
    mine = g.Server()
    sg.register_storage_server(mine, store)
    async with serving(server) as address, g.new_config(
            g.with_node_list([address]), wire="stream") as plain, g.new_config(
                g.with_node_list([address]), wire="stream", server=mine) as b:
        await b.nodes()[0].wait_connected()
        await eventually(lambda: server._inbound.clients)  # B's stream was classified
        async with anyio.create_task_group() as tg:
            tg.start_soon(_ignore_errors, sg.read_rpc(
                plain.nodes()[0].context(timeout=WAIT), ReadRequest(key="k")))
            with anyio.fail_after(WAIT):
                await store.started.wait()
            (client,) = server._inbound.clients.values()
            assert client.channel.routes  # the ReadQC waits for B
            b.manager.close()  # type: ignore[union-attr]
            await eventually(lambda: outcome)
    (err,) = outcome
    assert isinstance(err, g.QuorumCallError)
    (cause,) = err.node_errors.values()
    assert isinstance(cause, g.StatusError) and "back-channel client" in cause.message
    assert "left" in cause.message
    assert not client.channel.routes and not server._inbound.clients


async def test_cancelling_a_server_initiated_call_removes_its_route() -> None:
    outcome: list[BaseException | ReadResponse] = []
    scopes: list[anyio.CancelScope] = []
    server = nested_server(outcome, scopes)
    store = Blocking()
    mine = g.Server()
    sg.register_storage_server(mine, store)
    async with serving(server) as address, g.new_config(
            g.with_node_list([address]), wire="stream", server=mine) as cfg:
        node = cfg.nodes()[0]
        async with anyio.create_task_group() as tg:
            result: list[ReadResponse] = []

            async def call() -> None:
                result.append(await sg.read_rpc(node.context(timeout=WAIT), ReadRequest()))

            tg.start_soon(call)
            with anyio.fail_after(WAIT):
                await store.started.wait()
            (client,) = server._inbound.clients.values()
            scopes[0].cancel()
        assert result[0].value == "cancelled" and not client.channel.routes
        store.release.set()  # the late reply to the cancelled call is dropped
        # the stream still works, both ways
        store.started, store.release = anyio.Event(), anyio.Event()
        store.release.set()
        again = await sg.read_rpc(node.context(timeout=WAIT), ReadRequest())
        assert again.value == "late"


async def test_a_back_channel_needs_the_stream_wire() -> None:
    with pytest.raises(ValueError, match="stream"):
        g.Manager(wire="ordering", server=g.Server())


async def _ignore_errors(call: Any) -> None:
    try:
        await call
    except g.StatusError:
        pass
