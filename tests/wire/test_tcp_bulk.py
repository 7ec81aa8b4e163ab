"""Big messages and many messages over real TCP, and TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

import anyio
import pytest
from _backends import with_io
from _certs import self_signed_cert
from anyio.streams.tls import TLSAttribute
from tcp_helpers import ECHO, serving

from gorums_h2.wire import (
    ClientConnection,
    ConnectionBroken,
    EndOfStream,
    WireSettings,
    client_ssl_context,
    connect,
    server_ssl_context,
)

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


async def test_16_mib_message_both_directions(wire: WireSettings) -> None:
    settings = WireSettings(max_receive_message_size=17 * MiB)
    body = bytes(range(256)) * (16 * MiB // 256)
    async with serving(settings=with_io(settings, wire)) as (_, port):
        with anyio.fail_after(30):
            async with connect("127.0.0.1", port, settings=with_io(settings, wire)) as conn:
                stream = await conn.open_stream(ECHO)
                await stream.send(body)
                reply = await stream.receive()
                assert len(reply) == len(body) and reply == body
                await stream.send(b"small after big")
                assert await stream.receive() == b"small after big"


async def test_big_messages_with_default_windows_and_frames_do_not_deadlock(
        wire: WireSettings) -> None:
    # several messages larger than the 16 MiB stream window in flight at once
    settings = WireSettings(max_receive_message_size=20 * MiB, stream_window=65535,
                            connection_window=65535, max_frame_size=16384)
    bodies = [bytes([i]) * (3 * MiB + i) for i in range(3)]
    async with serving(settings=with_io(settings, wire)) as (_, port):
        with anyio.fail_after(30):
            async with connect("127.0.0.1", port, settings=with_io(settings, wire)) as conn:
                stream = await conn.open_stream(ECHO)
                for body in bodies:
                    stream.send_nowait(body)
                for body in bodies:
                    assert await stream.receive() == body


async def test_thousands_of_small_messages_with_small_windows(wire: WireSettings) -> None:
    settings = WireSettings(stream_window=65535, connection_window=65535)
    count = 2000
    async with serving(settings=with_io(settings, wire)) as (_, port):
        with anyio.fail_after(30):
            async with connect("127.0.0.1", port, settings=with_io(settings, wire)) as conn:
                streams = [await conn.open_stream(ECHO) for _ in range(2)]
                got: dict[int, list[bytes]] = {0: [], 1: []}

                async def send_all(i: int) -> None:
                    for n in range(count):
                        body = b"%d-%05d" % (i, n) * 10  # 2000 x 85 bytes: ~2.6 windows each way
                        if n % 50 == 49:
                            await streams[i].send(body)
                        else:
                            streams[i].send_nowait(body)
                    streams[i].end()

                async def receive_all(i: int) -> None:
                    async for msg in streams[i]:
                        got[i].append(msg)

                async with anyio.create_task_group() as tg:
                    for i in range(2):
                        tg.start_soon(send_all, i)
                        tg.start_soon(receive_all, i)
                for i in range(2):
                    assert got[i] == [b"%d-%05d" % (i, n) * 10 for n in range(count)]


def _alpn(conn: ClientConnection) -> str | None:
    transport = conn.io.transport  # type: ignore[attr-defined]
    if hasattr(transport, "get_extra_info"):  # native asyncio transport
        return transport.get_extra_info("ssl_object").selected_alpn_protocol()  # type: ignore[no-any-return]
    return transport.extra(TLSAttribute.alpn_protocol)  # type: ignore[no-any-return]


async def test_tls_with_alpn_h2(tmp_path: Path, wire: WireSettings) -> None:
    cert, key = self_signed_cert(tmp_path)
    async with serving(ssl_context=server_ssl_context(str(cert), str(key)),
                       settings=wire) as (_, port):
        with anyio.fail_after(10):
            ctx = client_ssl_context(cafile=str(cert))
            async with connect("127.0.0.1", port, ssl_context=ctx,
                               server_hostname="localhost", settings=wire) as conn:
                assert _alpn(conn) == "h2"
                assert conn.scheme == "https"
                stream = await conn.open_stream(ECHO)
                for body in (b"secret", b"s" * 300_000):
                    await stream.send(body)
                    assert await stream.receive() == body
                stream.end()
                with pytest.raises(EndOfStream):
                    await stream.receive()
            # by IP address (the certificate names 127.0.0.1 too)
            async with connect("127.0.0.1", port, ssl_context=ctx, settings=wire) as conn:
                stream = await conn.open_stream(ECHO)
                await stream.send(b"by ip")
                assert await stream.receive() == b"by ip"


async def test_tls_with_an_untrusted_certificate_is_unavailable(
        tmp_path: Path, wire: WireSettings) -> None:
    cert, key = self_signed_cert(tmp_path)
    (tmp_path / "other").mkdir()
    other, _ = self_signed_cert(tmp_path / "other")
    async with serving(ssl_context=server_ssl_context(str(cert), str(key)),
                       settings=wire) as (_, port):
        with anyio.fail_after(10):
            with pytest.raises(ConnectionBroken, match="cannot connect") as info:
                async with connect("127.0.0.1", port,
                                   ssl_context=client_ssl_context(cafile=str(other)),
                                   settings=wire):
                    pass
            cause = info.value.__cause__
            assert isinstance(cause, (ssl.SSLError, OSError, anyio.BrokenResourceError))
