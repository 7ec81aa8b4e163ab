"""gzip compression against grpcio, both ways and in both reply directions.

* a grpcio client compressing its requests -> our server decodes them;
* a grpcio client (which accepts gzip) -> our server with
  ``compression="gzip"`` compresses the replies, grpcio decodes them;
* our client with ``compression="gzip"`` -> a grpcio server decodes the
  requests, and its compressed replies are decoded by us;
* without compression on our side we compress nothing and send no
  compression headers (a compressing grpcio server still compresses its
  replies, and we decode them).

Compression is checked where it shows: the encodings our streams recorded,
and the bytes our side queued (a compressible message shrinks).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import partial

import anyio
import anyio.to_thread
import grpc
import pytest
from _backends import with_io
from grpcio_peer import CallResult, call, start_server

from gorums_h2.wire import (
    ClientStream,
    EndOfStream,
    ServerStream,
    StatusCode,
    StatusError,
    WireServer,
    WireSettings,
    connect,
)
from gorums_h2.wire.headers import build_request_headers

pytestmark = pytest.mark.anyio

BODY = b"gorums " * 20_000  # 140 kB that gzip shrinks to well under 1 kB
GZIP = WireSettings(compression="gzip")


async def _echo_encodings(stream: ServerStream) -> None:
    """Echo every message; trailers say how the request came and the reply went."""
    async for msg in stream:
        await stream.send(msg)
    stream.end(metadata=[("request-encoding", stream.head.encoding or "identity"),
                         ("reply-encoding", stream.send_encoding or "identity"),
                         ("reply-bytes", str(stream.written))])


@pytest.fixture(params=[None, "gzip"], ids=["plain-server", "gzip-server"])
async def our_server(request: pytest.FixtureRequest, wire: WireSettings
                     ) -> AsyncIterator[tuple[int, str | None]]:
    compression = request.param
    srv = WireServer({"/test.Interop/Echo": _echo_encodings},
                     settings=with_io(WireSettings(compression=compression), wire))
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        yield port, compression
        srv.stop()


async def _grpcio_call(port: int, compression: grpc.Compression | None) -> CallResult:
    with anyio.fail_after(60):
        return await anyio.to_thread.run_sync(
            partial(call, port, "/test.Interop/Echo", [BODY, b"small"], [], compression))


@pytest.mark.parametrize("client_compression", [None, grpc.Compression.Gzip],
                         ids=["plain-client", "gzip-client"])
async def test_grpcio_client_with_our_server(
        our_server: tuple[int, str | None], client_compression: grpc.Compression | None
) -> None:
    port, server_compression = our_server
    res = await _grpcio_call(port, client_compression)
    assert res.code == grpc.StatusCode.OK, res.details
    assert res.replies == [BODY, b"small"]
    trailers = dict(res.trailing_metadata)
    assert trailers["request-encoding"] == (
        "gzip" if client_compression is not None else "identity")
    # grpcio accepts gzip, so a gzip server compresses its replies to it
    assert trailers["reply-encoding"] == server_compression or "identity"
    reply_bytes = int(trailers["reply-bytes"])
    if server_compression:
        assert reply_bytes < len(BODY) // 50
    else:
        assert reply_bytes == len(BODY) + len(b"small") + 10


@pytest.fixture(params=[None, grpc.Compression.Gzip], ids=["plain-grpcio", "gzip-grpcio"])
def grpcio_server(request: pytest.FixtureRequest) -> Iterator[tuple[int, bool]]:
    server, port = start_server(request.param)
    yield port, request.param is not None
    server.stop(grace=None)


@pytest.mark.parametrize("compression", [None, "gzip"], ids=["plain-client", "gzip-client"])
async def test_our_client_with_a_grpcio_server(
        grpcio_server: tuple[int, bool], compression: str | None, wire: WireSettings) -> None:
    port, grpcio_compresses = grpcio_server
    with anyio.fail_after(30):
        async with connect("127.0.0.1", port,
                           settings=with_io(WireSettings(compression=compression), wire)) as conn:
            stream = await conn.open_stream("/test.Interop/Echo")
            await stream.send(BODY)
            assert await stream.receive() == BODY
            await stream.send(b"small")
            assert await stream.receive() == b"small"
            stream.end()
            with pytest.raises(EndOfStream):
                await stream.receive()
            if compression:
                assert stream.written < len(BODY) // 50  # what we sent was compressed
            else:
                assert stream.written == len(BODY) + len(b"small") + 10
            # grpcio compresses its replies even for a client that sent no
            # grpc-accept-encoding; we decode them either way
            assert stream._decoder.encoding == ("gzip" if grpcio_compresses else None)


async def test_our_client_and_server_with_gzip(wire: WireSettings) -> None:
    srv = WireServer({"/test.Interop/Echo": _echo_encodings}, settings=with_io(GZIP, wire))
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        with anyio.fail_after(30):
            async with connect("127.0.0.1", port, settings=with_io(GZIP, wire)) as conn:
                stream = await conn.open_stream("/test.Interop/Echo")
                await stream.send(BODY)
                assert await stream.receive() == BODY
                stream.end()
                assert [m async for m in stream] == []
                assert stream.trailing_metadata is not None
                assert stream.trailing_metadata["request-encoding"] == "gzip"
                assert stream.trailing_metadata["reply-encoding"] == "gzip"
                assert stream._decoder.encoding == "gzip"
        srv.stop()


async def test_an_unknown_request_encoding_is_unimplemented(wire: WireSettings) -> None:
    srv = WireServer({"/test.Interop/Echo": _echo_encodings}, settings=wire)
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        with anyio.fail_after(30):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                headers = build_request_headers("/test.Interop/Echo", f"127.0.0.1:{port}",
                                                encoding="snappy")
                stream = conn.core.open_stream(headers)
                assert isinstance(stream, ClientStream)
                with pytest.raises(StatusError) as info:
                    await stream.receive()
                assert info.value.code == StatusCode.UNIMPLEMENTED
                assert info.value.message == (
                    'grpc: Decompressor is not installed for grpc-encoding "snappy"')
        srv.stop()


def test_compression_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="compression must be None or one of"):
        WireSettings(compression="snappy")
    assert WireSettings(compression="deflate").compression == "deflate"


async def test_deflate_both_ways_with_our_client_and_server(wire: WireSettings) -> None:
    deflate = WireSettings(compression="deflate")
    srv = WireServer({"/test.Interop/Echo": _echo_encodings}, settings=with_io(deflate, wire))
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        with anyio.fail_after(30):
            async with connect("127.0.0.1", port, settings=with_io(deflate, wire)) as conn:
                stream = await conn.open_stream("/test.Interop/Echo")
                await stream.send(BODY)
                assert await stream.receive() == BODY
                stream.end()
                assert [m async for m in stream] == []
                assert stream.trailing_metadata is not None
                assert stream.trailing_metadata["request-encoding"] == "deflate"
                assert stream.trailing_metadata["reply-encoding"] == "deflate"
        srv.stop()
