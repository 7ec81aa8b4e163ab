"""ServerCtx (metadata, peer, send_message, request info) and Server options
(connect_callback, receive_buffer_size, message size limits)."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
from _server_kit import WAIT, address_of, eventually, raw_node_stream, running
from anyio.abc import SocketAttribute

import gorums_h2 as g
from gorums_h2.testing import ECHO_RPC, ECHO_UNICAST, Echo

pytestmark = pytest.mark.anyio


class Recorder:
    """ECHO_RPC handler recording its ServerCtx's view of each request."""

    def __init__(self, **options: Any) -> None:
        self.seen: list[dict[str, Any]] = []
        self.ctxs: list[g.ServerCtx] = []
        self.server = g.Server(**options)
        self.server.register_handler(ECHO_RPC, g.unary_handler(self.handle))

    async def handle(self, ctx: g.ServerCtx, req: Echo) -> Echo:
        self.ctxs.append(ctx)
        self.seen.append({
            "metadata": ctx.metadata.items_all(),
            "peer": ctx.peer,
            "method": ctx.method,
            "seq": ctx.seq_no,
            "request": ctx.request.msg,
            "cancelled": ctx.cancelled,
        })
        return Echo(value=req.value)


async def test_ctx_metadata_is_the_stream_headers_then_the_message_entries() -> None:
    rec = Recorder()
    async with running(rec.server) as address, \
            g.Manager(metadata={"stream-key": "stream-value", "dup": "from-stream"}) as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        ctx = node.context(metadata=[("msg-key", "msg-value"), ("dup", "from-message"),
                                     ("Mixed-Case", "x")])
        await g.rpc_call(ctx, Echo(value="m"), ECHO_RPC, Echo)
        await g.rpc_call(node.context(), Echo(value="plain"), ECHO_RPC, Echo)
    md = dict(rec.seen[0]["metadata"])
    pairs = rec.seen[0]["metadata"]
    assert md["stream-key"] == "stream-value"
    assert md["msg-key"] == "msg-value"
    assert md["mixed-case"] == "x"
    assert [v for k, v in pairs if k == "dup"] == ["from-stream", "from-message"]
    # stream headers come first (as grpc-go shows them: :authority, content-type...)
    keys = [k for k, _ in pairs]
    assert keys.index("stream-key") < keys.index("msg-key")
    assert md[":authority"] == address_of(address)
    assert md["content-type"] == "application/grpc+gorums"
    # the next request sees only the stream headers
    later = dict(rec.seen[1]["metadata"])
    assert "msg-key" not in later and later["stream-key"] == "stream-value"
    assert [v for k, v in rec.seen[1]["metadata"] if k == "dup"] == ["from-stream"]


async def test_ctx_metadata_skips_entries_that_are_not_valid_header_metadata() -> None:
    rec = Recorder()
    async with running(rec.server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(), entries=[("bad key", "v"), ("ok", "fine"),
                                               ("uni", "caf\u00e9")])
        reply = await raw.receive()
    assert reply.code == 0
    md = dict(rec.seen[0]["metadata"])
    assert md["ok"] == "fine" and "bad key" not in md and "uni" not in md
    # the request still carries every entry, untouched
    assert rec.ctxs[0].request.entries == [("bad key", "v"), ("ok", "fine"),
                                           ("uni", "caf\u00e9")]


async def test_ctx_peer_method_seq_and_request() -> None:
    rec = Recorder()
    async with running(rec.server) as address, raw_node_stream(address) as raw:
        raw.send(77, ECHO_RPC, Echo(value="who"))
        await raw.receive()
        local = raw.conn.extra(SocketAttribute.local_address)
    seen = rec.seen[0]
    assert tuple(seen["peer"][:2]) == tuple(local[:2])
    assert (seen["method"], seen["seq"], seen["request"].value) == (ECHO_RPC, 77, "who")
    assert seen["cancelled"] is False


async def test_send_message_after_the_client_left_raises_status_error() -> None:
    kept: list[g.ServerCtx] = []
    server = g.Server()

    async def handler(ctx: g.ServerCtx, req: Echo) -> None:
        kept.append(ctx)

    server.register_handler(ECHO_UNICAST, g.one_way_handler(handler))
    async with running(server) as address:
        async with raw_node_stream(address) as raw:
            raw.send(1, ECHO_UNICAST, Echo())
            raw.send(2, "no.Such.Method")  # its reply means request 1 was handled
            assert (await raw.receive()).seq == 2
            await kept[0].send_message(Echo(value="while connected"))  # one-way, but allowed
            late = await raw.receive()
            assert (late.seq, Echo.FromString(late.payload).value) == (1, "while connected")
        with pytest.raises(g.StatusError):
            await kept[0].send_message(Echo(value="too late"))
        assert kept[0].cancelled


async def test_connect_callback_sees_metadata_and_peer_on_connect_and_reconnect() -> None:
    infos: list[g.NodeStreamInfo] = []
    connected = anyio.Event()

    async def on_connect(info: g.NodeStreamInfo) -> None:  # may be async
        infos.append(info)
        connected.set()

    server = g.Server(connect_callback=on_connect)
    server.register_handler(ECHO_RPC, g.unary_handler(_echo))
    async with running(server) as address, g.Manager(
            metadata={"client-name": "py"}, backoff=g.Backoff(base_delay=0.01, jitter=0)) as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
        first_local = node.channel.conn.extra(SocketAttribute.local_address)  # type: ignore[union-attr]
        assert len(infos) == 1
        # the server drops the connection: the node reconnects on its own
        for conn in list(server.wire.connections):
            await conn.aclose()
        await eventually(lambda: len(infos) >= 2)
        await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
        second_local = node.channel.conn.extra(SocketAttribute.local_address)  # type: ignore[union-attr]
    assert [i.metadata["client-name"] for i in infos] == ["py", "py"]
    assert [tuple(i.peer[:2]) for i in infos] == [tuple(first_local[:2]),
                                                   tuple(second_local[:2])]


async def test_sync_connect_callback_and_raw_client_metadata() -> None:
    infos: list[g.NodeStreamInfo] = []
    server = g.Server(connect_callback=infos.append)
    server.register_handler(ECHO_RPC, g.unary_handler(_echo))
    async with running(server) as address, \
            raw_node_stream(address, [("a", "1"), ("b", "2"), ("a", "3")]) as raw:
        raw.send(1, ECHO_RPC, Echo())
        await raw.receive()
    assert len(infos) == 1
    assert infos[0].metadata.get_all("a") == ["1", "3"] and infos[0].metadata["b"] == "2"


async def _echo(ctx: g.ServerCtx, req: Echo) -> Echo:
    return Echo(value=req.value, num=req.num)


async def test_receive_buffer_size_is_accepted_and_ordering_holds() -> None:
    log: list[int] = []

    async def slow(ctx: g.ServerCtx, req: Echo) -> Echo:
        log.append(req.num)
        await anyio.lowlevel.checkpoint()
        return Echo(num=req.num)

    server = g.Server(receive_buffer_size=2)
    server.register_handler(ECHO_RPC, g.unary_handler(slow))
    async with running(server) as address, raw_node_stream(address) as raw:
        big = "x" * 2000
        for i in range(1, 201):  # ~400 KB: beyond the default stream window
            raw.send(i, ECHO_RPC, Echo(num=i, value=big))
        replies = await raw.receive_n(200)
    assert log == list(range(1, 201))
    assert [r.seq for r in replies] == list(range(1, 201))
    with pytest.raises(ValueError):
        g.Server(receive_buffer_size=-1)


async def test_max_receive_message_size_fails_the_stream_with_resource_exhausted() -> None:
    server = g.Server(max_receive_message_size=1000)
    server.register_handler(ECHO_RPC, g.unary_handler(_echo))
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="small"))
        assert (await raw.receive()).seq == 1
        raw.send(2, ECHO_RPC, Echo(value="x" * 2000))
        with pytest.raises(g.StatusError) as info, anyio.fail_after(WAIT):
            await raw.receive()
    assert info.value.code == g.StatusCode.RESOURCE_EXHAUSTED


async def test_a_reply_above_max_send_message_size_becomes_an_error_reply() -> None:
    server = g.Server(max_send_message_size=1000)

    async def big(ctx: g.ServerCtx, req: Echo) -> Echo:
        return Echo(value="y" * req.num)

    server.register_handler(ECHO_RPC, g.unary_handler(big))
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(num=5000))
        raw.send(2, ECHO_RPC, Echo(num=10))
        too_big, ok = await raw.receive_n(2)
    assert (too_big.seq, too_big.code) == (1, g.StatusCode.RESOURCE_EXHAUSTED)
    assert too_big.payload == b""
    assert ok.seq == 2 and Echo.FromString(ok.payload).value == "y" * 10


async def test_a_handler_returning_a_non_message_gets_an_error_reply_not_a_dead_stream(
        caplog: pytest.LogCaptureFixture) -> None:
    server = g.Server()

    async def wrong(ctx: g.ServerCtx, req: g.Message[Any]) -> Any:
        if req.msg.value == "wrong":
            return Echo(value="not wrapped in a Message")
        return g.new_response_message(req, Echo(value="right"))

    server.register_handler(ECHO_RPC, wrong)
    async with running(server) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="wrong"))
        raw.send(2, ECHO_RPC, Echo(value="fine"))
        bad, ok = await raw.receive_n(2)
    assert (bad.seq, bad.code) == (1, g.StatusCode.INTERNAL)
    assert "cannot encode the reply" in bad.message
    assert ok.seq == 2 and Echo.FromString(ok.payload).value == "right"
    assert any(ECHO_RPC in r.getMessage() for r in caplog.records)
