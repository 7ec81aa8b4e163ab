"""Our client against a raw HTTP/2 server that behaves like grpc-go (lazy
response headers, BDP pings before every reply, a WINDOW_UPDATE per DATA
frame, SETTINGS with only MAX_FRAME_SIZE=16384)."""

from __future__ import annotations

from dataclasses import replace

import anyio
import pytest
from go_like_peer import BDP_PING, GoLikeServer

import gorums_h2
from gorums_h2.codec import decode_full, encode
from gorums_h2.codec.envelope import encode_entries, encode_metadata, encode_method_field
from gorums_h2.examples.storage import storage_gorums as sg
from gorums_h2.examples.storage.storage_pb2 import ReadRequest, ReadResponse
from gorums_h2.wire import EndOfStream, Metadata, _asyncio_io, connect
from gorums_h2.wire.headers import USER_AGENT
from gorums_h2.wire.settings import WireSettings

pytestmark = pytest.mark.anyio


def envelope(seq: int, payload: bytes) -> bytes:
    md = encode_metadata(seq, encode_method_field("proto.Storage.ReadQC"),
                         entries=encode_entries([("msg-step", str(seq))]))
    return encode(md, payload)


async def test_our_client_against_a_go_like_server(wire: WireSettings) -> None:
    server = GoLikeServer()
    async with anyio.create_task_group() as tg:
        port = await tg.start(server.serve)
        with anyio.fail_after(20):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                stream = await conn.open_stream(
                    "/ordering.Gorums/NodeStream", subtype="gorums",
                    metadata=Metadata([("client-name", "py"), ("stream-key", "stream-value")]))
                sizes = [10, 0, 200, 100_000, 30]  # 100 KB: frames must respect 16384
                for seq, size in enumerate(sizes, 1):
                    body = envelope(seq, bytes([seq]) * size)
                    await stream.send(body)
                    reply = await stream.receive()
                    assert reply == body
                    md, _, payload = decode_full(reply)
                    assert (md.message_seq_no, len(payload)) == (seq, size)
                assert await stream.wait_initial_metadata() == Metadata()
                stream.end()
                with pytest.raises(EndOfStream):
                    await stream.receive()
                # one more round trip, so the last PING ACK has surely been processed
                assert await conn.ping() >= 0
        tg.cancel_scope.cancel()
    stats = server.stats
    assert len(stats.requests) == 1
    head = dict(stats.requests[0])
    assert head[b":path"] == b"/ordering.Gorums/NodeStream"
    assert head[b"content-type"] == b"application/grpc+gorums"
    assert head[b"te"] == b"trailers"
    assert head[b"user-agent"] == USER_AGENT.encode()
    assert head[b":authority"] == f"127.0.0.1:{port}".encode()
    assert head[b"client-name"] == b"py"
    assert len(stats.messages) == len(sizes)
    assert stats.max_data_frame <= 16384
    assert stats.pings_sent == len(sizes)
    assert stats.ping_acks == [BDP_PING] * len(sizes)
    assert stats.trailers_sent


async def test_ping_acks_leave_with_the_next_request(wire: WireSettings) -> None:
    """grpc-go's per-reply PING: our ACK rides with the next request (the
    write the reply causes), not in a socket write of its own."""
    server = GoLikeServer()
    rounds = 50
    async with anyio.create_task_group() as tg:
        port = await tg.start(server.serve)
        with anyio.fail_after(20):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                stream = await conn.open_stream("/ordering.Gorums/NodeStream", subtype="gorums")
                for seq in range(1, rounds + 1):
                    stream.send_nowait(envelope(seq, b"x"))
                    await stream.receive()
                stream.end()
                with pytest.raises(EndOfStream):
                    await stream.receive()
                assert await conn.ping() >= 0
        tg.cancel_scope.cancel()
    stats = server.stats
    assert stats.ping_acks == [BDP_PING] * rounds
    # before: every ACK was a read of its own (asyncio); now only when the
    # last reply's ACK has no request to go with
    assert stats.lone_ack_reads <= 2, (stats.lone_ack_reads, stats.reads)


async def test_a_stream_the_go_server_ends_is_reopened_at_once() -> None:
    """Go v0.11's server ends the NodeStream (trailers-only status 13, then
    RST_STREAM) for a message it cannot take, and keeps the connection; Go's
    client opens a new stream on its next send. Ours reopens at once on the
    same connection, so the next call works instead of failing UNAVAILABLE
    "not connected" for a reconnect backoff (found against a live Go
    server: a 5 MiB request, then a ReadRPC)."""
    server = GoLikeServer(kill_first_stream=True)
    async with anyio.create_task_group() as tg:
        port = await tg.start(server.serve)
        with anyio.fail_after(20):
            async with gorums_h2.Manager() as mgr:
                cfg = mgr.new_configuration(gorums_h2.with_node_list([f"127.0.0.1:{port}"]))
                node = cfg.nodes()[0]
                with pytest.raises(gorums_h2.StatusError) as info:
                    await sg.read_rpc(node.context(timeout=5), ReadRequest())
                assert info.value.code == gorums_h2.StatusCode.INTERNAL
                assert "could not find method descriptor" in info.value.message
                # at once, no sleep: held while the new stream opens, then sent
                for _ in range(3):
                    assert await sg.read_rpc(node.context(timeout=5), ReadRequest()) == \
                        ReadResponse()
        tg.cancel_scope.cancel()
    stats = server.stats
    assert stats.connections == 1
    assert len(stats.requests) == 2 and len(stats.killed_streams) == 1
    assert len(stats.messages) == 4


async def test_sustained_calls_stay_within_the_empty_frame_budget(wire: WireSettings) -> None:
    """A Go server PINGs with every reply: at any call rate, those PINGs
    must not count as frames without payload (here a budget of 20 against
    200 replies), or our client would close a healthy connection."""
    server = GoLikeServer()
    rounds = 200
    async with anyio.create_task_group() as tg:
        port = await tg.start(server.serve)
        with anyio.fail_after(30):
            async with connect("127.0.0.1", port,
                               settings=replace(wire, max_empty_frames=20)) as conn:
                stream = await conn.open_stream("/ordering.Gorums/NodeStream", subtype="gorums")
                for seq in range(1, rounds + 1):
                    stream.send_nowait(envelope(seq, b"x"))
                    await stream.receive()
                assert conn.error is None
                assert await conn.ping() >= 0
        tg.cancel_scope.cancel()
    assert server.stats.ping_acks == [BDP_PING] * rounds
    assert server.stats.lone_ack_reads <= 2, (server.stats.lone_ack_reads, server.stats.reads)


async def test_an_idle_clients_bdp_ack_leaves_on_its_own(wire: WireSettings) -> None:
    """With no request to carry it, the ACK of the last reply's BDP PING is
    written on its own: on asyncio after at most BDP_ACK_DELAY, elsewhere
    after one turn of the writer (bound checked with a generous margin for
    the loaded machine)."""
    server = GoLikeServer()
    async with anyio.create_task_group() as tg:
        port = await tg.start(server.serve)
        async with connect("127.0.0.1", port, settings=wire) as conn:
            stream = await conn.open_stream("/ordering.Gorums/NodeStream", subtype="gorums")
            stream.send_nowait(envelope(1, b"x"))
            await stream.receive()
            with anyio.fail_after(_asyncio_io.BDP_ACK_DELAY + 2.0):
                while server.stats.ping_acks != [BDP_PING]:  # noqa: ASYNC110 (polling the peer)
                    await anyio.sleep(0.001)
        tg.cancel_scope.cancel()
    assert server.stats.lone_ack_reads == 1  # nothing else was written
