"""Client metadata: checked against the peer's header-list limit, encoded in linear time.

Before issue 10, 1 MiB of stream metadata froze the client's event loop for
~207 s (hpack's quadratic Huffman coding: 64/128/256 KiB took 0.26/1.08/5.1 s)
and nothing checked the peer's SETTINGS_MAX_HEADER_LIST_SIZE before sending.
"""

from __future__ import annotations

import os
import random
import time

import anyio
import anyio.lowlevel
import pytest
from _backends import anyio_backend, io_backend, wire, with_io
from hpack import Decoder
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.struct import HeaderTuple, NeverIndexedHeaderTuple

from gorums_h2.wire import (
    HeaderListTooLarge,
    ServerConnection,
    ServerStream,
    StatusCode,
    WireServer,
    WireSettings,
    connect,
)
from gorums_h2.wire._hpack import LinearEncoder, LinearHuffman, header_list_size

__all__ = ["anyio_backend", "io_backend", "wire"]

MiB = 1024 * 1024


def test_linear_huffman_matches_hpack() -> None:
    ref = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
    rng = random.Random(7)
    for n in (0, 1, 2, 3, 7, 8, 31, 100, 1000, 3000):
        for _ in range(10):
            data = bytes(rng.randrange(256) for _ in range(n))
            assert LinearHuffman().encode(data) == ref.encode(data)


@pytest.mark.parametrize("shape", ["small", "one-large", "many-medium", "many-small"])
def test_linear_encoder_round_trips(shape: str) -> None:
    headers: list[tuple[bytes, bytes]] = {
        "small": [(b":path", b"/a.B/C"), (b"x-id", b"42"), (b"x-id", b"42")],
        "one-large": [(b"k", os.urandom(50_000).hex().encode())],
        "many-medium": [(f"k{i}".encode(), b"v" * 700) for i in range(200)],
        "many-small": [(f"k{i % 50}".encode(), f"value {i}".encode()) for i in range(5000)],
    }[shape]
    headers.append(NeverIndexedHeaderTuple(b"authorization", b"secret"))
    encoder, decoder = LinearEncoder(), Decoder()
    decoder.max_header_list_size = 64 * MiB
    for _ in range(3):  # the dynamic table stays consistent across blocks
        decoded = decoder.decode(encoder.encode(headers), raw=True)
        assert [tuple(h) for h in decoded] == [tuple(h) for h in headers]
        assert isinstance(decoded[-1], NeverIndexedHeaderTuple)
        assert all(isinstance(h, HeaderTuple) for h in decoded)


def test_one_mib_of_metadata_encodes_in_linear_time() -> None:
    """Figures printed; the bound is a hang detector, not a performance goal."""
    for label, headers in [("1 value of 1 MiB", [(b"big", b"v" * MiB)]),
                           ("256 values of 4 KiB", [(b"k%d" % i, b"v" * 4096) for i in range(256)]),
                           ("16384 values of 64 B", [(b"k%d" % i, b"v" * 64)
                                                     for i in range(16384)])]:
        start = time.perf_counter()
        block = LinearEncoder().encode(headers)
        took = time.perf_counter() - start
        print(f"{label}: {took * 1000:.1f} ms, {len(block)} bytes")
        assert len(block) < 1.2 * header_list_size(headers)
        assert took < 2.0  # was ~207 s for one 1 MiB value


@pytest.mark.anyio
async def test_metadata_over_the_peers_limit_is_refused_before_sending(wire: WireSettings) -> None:
    seen: list[object] = []

    async def handler(stream: ServerStream) -> None:
        seen.append(stream.head.metadata)
        async for _ in stream:
            pass

    srv = WireServer({"/a.S/M": handler}, settings=wire)  # advertises 64 KiB (WireSettings default)
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        async with connect("127.0.0.1", port, settings=wire) as conn:
            ok = await conn.open_stream("/a.S/M", metadata={"x-small": "1"})
            ok.end()
            await ok.wait_closed()  # the server's SETTINGS have arrived
            with pytest.raises(HeaderListTooLarge) as info:
                await conn.open_stream("/a.S/M", metadata={"x-big": "v" * 100_000})
            exc = info.value
            assert exc.code == StatusCode.RESOURCE_EXHAUSTED
            assert exc.limit == 65536 and exc.size > 100_000
            assert "above the server's SETTINGS_MAX_HEADER_LIST_SIZE of 65536 bytes" in exc.message
            with pytest.raises(HeaderListTooLarge, match="cap for headers we send"):
                await conn.open_stream("/a.S/M", metadata={"x-big": "v" * (MiB + 1)})
            again = await conn.open_stream("/a.S/M", metadata={"x-small": "2"})  # still usable
            again.end()
            await again.wait_closed()
        srv.stop()
    assert len(seen) == 2


@pytest.mark.anyio
async def test_one_mib_of_metadata_to_a_peer_that_allows_it(wire: WireSettings) -> None:
    """A peer advertising 2 MiB (grpc-go servers: 16 MiB) gets 1 MiB of metadata."""
    seen: list[int] = []

    async def handler(stream: ServerStream) -> None:
        seen.append(len(stream.head.metadata["x-big"]))
        async for _ in stream:
            pass

    def allow_2_mib(conn: ServerConnection) -> None:
        # h2 keeps its decoder at 64 KiB whatever we advertise (our SETTINGS
        # are applied as initial values, so their ACK changes nothing): known
        # issue of the h2 layer, reported; set it by hand for this test
        conn.core.h2.decoder.max_header_list_size = 2 * MiB

    srv = WireServer({"/a.S/M": handler},
                     settings=with_io(WireSettings(max_header_list_size=2 * MiB), wire),
                     on_connection=allow_2_mib)
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        async with connect("127.0.0.1", port, settings=wire) as conn:
            # h2 applies the 2 MiB it advertised once we ACKed it (64 KiB before)
            first = await conn.open_stream("/a.S/M", metadata={"x-big": "1"})
            first.end()
            await first.wait_closed()
            start = time.perf_counter()
            stream = await conn.open_stream("/a.S/M", metadata={"x-big": "v" * (MiB - 1000)})
            took = time.perf_counter() - start
            stream.end()
            with anyio.fail_after(10):
                await stream.wait_closed()
        srv.stop()
    print(f"open_stream with 1 MiB of metadata: {took * 1000:.1f} ms")
    assert took < 2.0  # hang detector (was ~207 s)
    assert seen == [1, MiB - 1000]


@pytest.mark.anyio
async def test_large_metadata_waits_for_the_servers_limit(wire: WireSettings) -> None:
    """Right after connecting the server's SETTINGS may not have arrived: a
    large header block waits for them instead of being sent blind."""
    srv = WireServer({"/a.S/M": lambda stream: anyio.lowlevel.checkpoint()}, settings=wire)
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        for _ in range(3):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                with pytest.raises(HeaderListTooLarge, match="of 65536 bytes"):
                    await conn.open_stream("/a.S/M", metadata={"x-big": "v" * 100_000})
                assert conn.error is None
        srv.stop()


@pytest.mark.anyio
async def test_manager_metadata_above_the_servers_limit_fails_calls_clearly() -> None:
    from _conn_kit import gorums_server

    import gorums_h2 as g
    from gorums_h2.testing import ECHO_RPC, Echo

    async with gorums_server() as (address, _), g.Manager(metadata={"x-big": "v" * 100_000},
                         backoff=g.Backoff(base_delay=30)) as mgr:
        node = mgr.new_configuration(
            g.with_node_list([f"{address[0]}:{address[1]}"])).nodes()[0]
        with pytest.raises(g.StatusError) as info:
            with anyio.fail_after(10):
                await g.rpc_call(node.context(), Echo(value="x"), ECHO_RPC, Echo)
    assert isinstance(info.value, HeaderListTooLarge)
    assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
    assert "SETTINGS_MAX_HEADER_LIST_SIZE of 65536 bytes" in info.value.message


@pytest.mark.anyio
async def test_server_response_headers_and_trailers_within_the_clients_limit(
        wire: WireSettings) -> None:
    """A handler's huge status message or metadata ends the call with a status
    instead of breaking the client's connection (our client accepts 64 KiB)."""
    from gorums_h2.wire import EndOfStream, StatusError

    async def huge_message(stream: ServerStream) -> None:
        raise StatusError(StatusCode.NOT_FOUND, "x" * 100_000)

    async def huge_trailers(stream: ServerStream) -> None:
        stream.end(StatusCode.OK, metadata={"x-big": "v" * 100_000})

    async def huge_headers(stream: ServerStream) -> None:
        stream.send_initial_metadata({"x-big": "v" * 100_000})

    async def fine(stream: ServerStream) -> None:
        pass

    srv = WireServer({"/a.S/Message": huge_message, "/a.S/Trailers": huge_trailers,
                      "/a.S/Headers": huge_headers, "/a.S/Fine": fine}, settings=wire)
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        async with connect("127.0.0.1", port, settings=wire) as conn:
            for path, code, text in [
                    ("/a.S/Message", StatusCode.INTERNAL, "exceed the client's header list limit"),
                    ("/a.S/Trailers", StatusCode.INTERNAL, "exceed the client's header list limit"),
                    ("/a.S/Headers", StatusCode.RESOURCE_EXHAUSTED,
                     "response headers are 100"),
                    ("/a.S/Fine", StatusCode.OK, "")]:
                stream = await conn.open_stream(path)
                stream.end()
                with anyio.fail_after(10):
                    try:
                        await stream.receive()
                    except EndOfStream:
                        got, message = StatusCode.OK, ""
                    except StatusError as exc:
                        got, message = exc.code, exc.message
                assert (got, text in message) == (code, True), (path, got, message)
            assert conn.error is None
        srv.stop()
