"""Server-initiated calls against Go Gorums master's capture ``go-main-reverse-call``.

* our server, given the Go client's bytes (ReadNestedQC with ``gorums-node-id:
  0``), sends Go's server-initiated ReadQC request byte for byte (ID
  ``1<<63|1``), and after the Go client's reply bytes, Go's final reply;
* our client with a back-channel handler, given Go's server-initiated request
  bytes, replies with the Go client's bytes, on the same stream.
"""

from __future__ import annotations

from functools import lru_cache

import anyio
import pytest
from _capture import deframe, grpc_messages, header_blocks, load_connections
from _server_kit import raw_node_stream, running
from google.protobuf.timestamp_pb2 import Timestamp

import gorums_h2 as g
from gorums_h2.codec import STREAM
from gorums_h2.examples.storage.server import new_storage_server
from gorums_h2.wire.server import ServerStream, WireServer

pytestmark = pytest.mark.anyio

FIXED = {":method", ":scheme", ":path", ":authority", "content-type", "user-agent", "te"}


@lru_cache(maxsize=1)
def _reverse_call() -> tuple[list[tuple[str, str]], list[bytes], list[bytes]]:
    """Connection 1 (the one that carries the call): headers, C->S and S->C messages."""
    conn = load_connections("go-main-reverse-call")[1]
    c2s = deframe(conn.data["c2s"], client=True)
    s2c = deframe(conn.data["s2c"], client=False)
    headers = [(k, v) for k, v in header_blocks(c2s)[0].headers if k not in FIXED]
    sent = [body for _, body in grpc_messages(c2s).get(1, [])]
    got = [body for _, body in grpc_messages(s2c).get(1, [])]
    return headers, sent, got


def _client_storage() -> g.Server:
    """The back-channel handler of Go's storage client: one stored key."""
    server = new_storage_server()
    server.service.store["client-key"] = (  # type: ignore[attr-defined]
        "client-value", Timestamp(seconds=1700000010))
    return server


def test_the_capture_is_what_the_test_assumes() -> None:
    headers, sent, got = _reverse_call()
    assert ("gorums-node-id", "0") in headers
    assert [STREAM.decode(b).seq for b in sent] == [1, 1 << 63 | 1]
    assert [STREAM.decode(b).method for b in got] == [
        "proto.Storage.ReadQC", "proto.Storage.ReadNestedQC"]


async def test_our_server_sends_go_masters_server_initiated_request_bytes() -> None:
    headers, sent, got = _reverse_call()
    async with running(new_storage_server()) as address, raw_node_stream(
            address, headers, wire=STREAM) as raw:
        raw.send_body(sent[0])  # ReadNestedQC, ID 1
        with anyio.fail_after(10):
            call_bytes = await raw.stream.receive()
        assert call_bytes == got[0]  # ReadQC, ID 1<<63|1: Go's bytes exactly
        raw.send_body(sent[1])  # the Go client's reply
        with anyio.fail_after(10):
            final = await raw.stream.receive()
        assert final == got[1]


async def test_our_client_answers_go_masters_request_with_go_client_bytes() -> None:
    _, sent, got = _reverse_call()
    replies: list[bytes] = []
    seen: list[object] = []

    async def go_like_server(stream: ServerStream) -> None:
        seen.append(stream.head.metadata.get("gorums-node-id"))
        stream.send_nowait(got[0])  # Go's server-initiated ReadQC
        replies.append(await stream.receive())
        # the same ID with an unknown method: in-band UNIMPLEMENTED (code 12)
        stream.send_nowait(STREAM.encode(g.Envelope(1 << 63 | 2, "proto.Storage.Nope")))
        replies.append(await stream.receive())
        done.set()
        await anyio.sleep_forever()  # until the server stops

    done = anyio.Event()
    wire = WireServer({STREAM.path: go_like_server})
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(wire.serve_tcp, "127.0.0.1", 0)
        async with g.new_config(g.with_node_list([f"{host}:{port}"]), wire="stream",
                                server=_client_storage()) as cfg:
            with anyio.fail_after(10):
                await cfg.nodes()[0].wait_connected()
                await done.wait()
        wire.stop()
    assert seen == ["0"]
    assert replies[0] == sent[1]  # the Go client's reply, byte for byte
    unknown = STREAM.decode(replies[1])
    assert unknown.seq == 1 << 63 | 2 and unknown.status is not None
    assert unknown.status.code == g.StatusCode.UNIMPLEMENTED
    assert unknown.status.message == "no handler registered for method proto.Storage.Nope"
