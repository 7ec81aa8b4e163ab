"""gorums_h2's wire against grpcio, both ways, over real TCP.

A grpcio client drives our WireServer, and our client drives a grpcio server,
with plain ``application/grpc`` and raw bytes: custom metadata both ways
(repeated keys, ``-bin``), error statuses with ``grpc-status-details-bin``,
16 MiB messages, and 10,000 messages on one stream (towards our server and
towards our client: the receive paths, where our flow-control credit is
returned; grpcio is the slow side, so these do not echo).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import partial

import anyio
import anyio.to_thread
import grpc
import pytest
from _backends import with_io
from grpcio_peer import FAIL_MESSAGE, CallResult, MiB, call, detail, start_server

from gorums_h2.pb import status_pb2
from gorums_h2.wire import (
    EndOfStream,
    Metadata,
    ServerStream,
    StatusCode,
    StatusError,
    WireServer,
    WireSettings,
    connect,
)

pytestmark = pytest.mark.anyio

BIG = WireSettings(max_receive_message_size=32 * MiB)
REQUEST_MD: list[tuple[str, str | bytes]] = [
    ("x-text", "one"), ("x-text", "two"), ("x-blob-bin", b"\x00\x01\x02\xfe\xff")]


@pytest.fixture(scope="module")
def grpcio_port() -> Iterator[int]:
    server, port = start_server()
    yield port
    server.stop(grace=None)


# ---- a grpcio client drives our server ----


async def _echo_with_metadata(stream: ServerStream) -> None:
    md = stream.head.metadata
    stream.send_initial_metadata(
        [(f"echo-{k}", v) for k, v in md.items_all() if k.startswith("x-")])
    count = 0
    async for msg in stream:
        count += 1
        stream.send_nowait(msg)
        if count % 100 == 0:
            await stream.wait_send_capacity()
    stream.end(metadata=[("count", str(count)), ("trailer-bin", b"\x00\x01\xff")])


async def _sink(stream: ServerStream) -> None:
    count = 0
    async for msg in stream:
        if msg != b"%05d" % count:
            raise StatusError(StatusCode.DATA_LOSS, f"message {count} was {msg!r}")
        count += 1
    await stream.send(b"%d in order" % count)


async def _fail(stream: ServerStream) -> None:
    await stream.receive()
    raise StatusError(StatusCode.FAILED_PRECONDITION, FAIL_MESSAGE, [detail()])


@pytest.fixture
async def our_port(wire: WireSettings) -> AsyncIterator[int]:
    srv = WireServer({"/test.Interop/Echo": _echo_with_metadata, "/test.Interop/Fail": _fail,
                      "/test.Interop/Sink": _sink}, settings=with_io(BIG, wire))
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        yield port
        srv.stop()


async def _grpcio_call(port: int, path: str, requests: list[bytes],
                       metadata: list[tuple[str, str | bytes]] | None = None) -> CallResult:
    with anyio.fail_after(60):
        return await anyio.to_thread.run_sync(
            partial(call, port, path, requests, metadata or []))


async def test_grpcio_client_bidi_with_metadata_both_ways(our_port: int) -> None:
    res = await _grpcio_call(our_port, "/test.Interop/Echo", [b"a", b"", b"c" * 1000],
                             REQUEST_MD)
    assert res.code == grpc.StatusCode.OK
    assert res.replies == [b"a", b"", b"c" * 1000]
    assert res.initial_metadata == [("echo-x-text", "one"), ("echo-x-text", "two"),
                                    ("echo-x-blob-bin", b"\x00\x01\x02\xfe\xff")]
    assert res.trailing_metadata == [("count", "3"), ("trailer-bin", b"\x00\x01\xff")]


async def test_grpcio_client_gets_our_error_status_with_details(our_port: int) -> None:
    res = await _grpcio_call(our_port, "/test.Interop/Fail", [b"x"])
    assert res.code == grpc.StatusCode.FAILED_PRECONDITION
    assert res.details == FAIL_MESSAGE
    raw = dict(res.trailing_metadata)["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    assert (status.code, status.message, list(status.details)) == (9, FAIL_MESSAGE, [detail()])


async def test_grpcio_client_unknown_method_is_unimplemented(our_port: int) -> None:
    res = await _grpcio_call(our_port, "/test.Interop/Nope", [b"x"])
    assert res.code == grpc.StatusCode.UNIMPLEMENTED


async def test_grpcio_client_16_mib_both_directions(our_port: int) -> None:
    body = bytes(range(256)) * (16 * MiB // 256)
    res = await _grpcio_call(our_port, "/test.Interop/Echo", [body, b"after"])
    assert res.code == grpc.StatusCode.OK
    assert res.replies == [body, b"after"]


async def test_grpcio_client_sends_10000_messages_on_one_stream(our_port: int) -> None:
    requests = [b"%05d" % i for i in range(10_000)]
    res = await _grpcio_call(our_port, "/test.Interop/Sink", requests)
    assert (res.code, res.details) == (grpc.StatusCode.OK, "")
    assert res.replies == [b"10000 in order"]


# ---- our client drives a grpcio server ----


async def test_our_client_bidi_with_metadata_both_ways(
        grpcio_port: int, wire: WireSettings) -> None:
    with anyio.fail_after(30):
        async with connect("127.0.0.1", grpcio_port, settings=wire) as conn:
            stream = await conn.open_stream("/test.Interop/Echo", metadata=REQUEST_MD)
            for body in (b"a", b"", b"c" * 1000):
                await stream.send(body)
                assert await stream.receive() == body
            initial = await stream.wait_initial_metadata()
            assert initial.get_all("echo-x-text") == ["one", "two"]
            assert initial["echo-x-blob-bin"] == b"\x00\x01\x02\xfe\xff"
            stream.end()
            with pytest.raises(EndOfStream):
                await stream.receive()
            assert stream.status is None
            assert stream.trailing_metadata == Metadata(
                [("count", "3"), ("trailer-bin", b"\x00\x01\xff")])


async def test_our_client_gets_grpcio_error_status_with_details(
        grpcio_port: int, wire: WireSettings) -> None:
    with anyio.fail_after(30):
        async with connect("127.0.0.1", grpcio_port, settings=wire) as conn:
            stream = await conn.open_stream("/test.Interop/Fail")
            await stream.send(b"x")
            with pytest.raises(StatusError) as info:
                await stream.receive()
            assert info.value == StatusError(StatusCode.FAILED_PRECONDITION, FAIL_MESSAGE,
                                             [detail()])
            assert stream.trailing_metadata is not None
            assert stream.trailing_metadata["extra"] == "trailer"


async def test_our_client_unknown_method_on_grpcio_is_unimplemented(
        grpcio_port: int, wire: WireSettings) -> None:
    with anyio.fail_after(30):
        async with connect("127.0.0.1", grpcio_port, settings=wire) as conn:
            stream = await conn.open_stream("/test.Interop/Nope")
            stream.send_nowait(b"x")
            with pytest.raises(StatusError) as info:
                await stream.receive()
            assert info.value.code == StatusCode.UNIMPLEMENTED


async def test_our_client_16_mib_both_directions_with_grpcio(
        grpcio_port: int, wire: WireSettings) -> None:
    body = bytes(range(256)) * (16 * MiB // 256)
    with anyio.fail_after(30):
        async with connect("127.0.0.1", grpcio_port, settings=with_io(BIG, wire)) as conn:
            stream = await conn.open_stream("/test.Interop/Echo")
            await stream.send(body)
            assert await stream.receive() == body
            await stream.send(b"after")
            assert await stream.receive() == b"after"


async def test_our_client_receives_10000_messages_on_one_stream_from_grpcio(
    grpcio_port: int, wire: WireSettings,
) -> None:
    with anyio.fail_after(30):
        async with connect("127.0.0.1", grpcio_port, settings=wire) as conn:
            stream = await conn.open_stream("/test.Interop/Source")
            await stream.send(b"10000")
            stream.end()
            got = [msg async for msg in stream]
            assert got == [b"%05d" % i for i in range(10_000)]
            assert stream.status is None
