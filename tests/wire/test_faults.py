"""Failures over real TCP: dead peers, garbage, oversized messages, cancellation,
keepalive, graceful shutdown. Every wait is bounded with anyio.fail_after, so a
hang fails the test instead of stalling the suite."""

from __future__ import annotations

import anyio
import h2.events
import h2.settings
import pytest
from _backends import with_io
from core_pair import parse_frames
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame, SettingsFrame, WindowUpdateFrame
from raw_h2 import raw_server
from tcp_helpers import ECHO, serving

from gorums_h2.wire import (
    ConnectionBroken,
    ConnectionClosed,
    EndOfStream,
    GoAwayError,
    MessageTooLarge,
    ServerStream,
    StatusCode,
    StatusError,
    WireSettings,
    connect,
)

pytestmark = pytest.mark.anyio

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


async def _roundtrip(port: int, wire: WireSettings, body: bytes = b"ping") -> None:
    async with connect("127.0.0.1", port, settings=wire) as conn:
        stream = await conn.open_stream(ECHO)
        await stream.send(body)
        assert await stream.receive() == body
        stream.end()
        with pytest.raises(EndOfStream):
            await stream.receive()


async def test_peer_closing_the_socket_wakes_every_waiter_with_one_error(
        wire: WireSettings) -> None:
    errors: list[BaseException] = []

    async def expect_broken(fn: object) -> None:
        try:
            await fn()  # type: ignore[operator]
        except ConnectionBroken as exc:
            errors.append(exc)

    async with raw_server() as (port, accept):
        settings = WireSettings(send_buffer_bytes=1000)
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=with_io(settings, wire)) as conn, \
                    anyio.create_task_group() as tg:
                peer = await accept()
                codes = h2.settings.SettingCodes
                await peer.handshake({codes.MAX_CONCURRENT_STREAMS: 1,
                                      codes.INITIAL_WINDOW_SIZE: 0})
                stream = await conn.open_stream(ECHO)
                await peer.wait_for(h2.events.RequestReceived)
                # the peer's window is 0: this send cannot be written, nor can the next
                stream.send_nowait(b"x" * 5000)
                tg.start_soon(expect_broken, lambda: stream.send(b"more"))   # back-pressure
                tg.start_soon(expect_broken, stream.receive)                  # receive
                tg.start_soon(expect_broken, lambda: conn.open_stream(ECHO))  # stream limit
                await anyio.wait_all_tasks_blocked()
                assert errors == []
                await peer.close()
            assert len(errors) == 3
            assert all(e is errors[0] for e in errors)
            assert conn.error is errors[0]
            assert errors[0].code == StatusCode.UNAVAILABLE


async def test_server_drops_a_garbage_connection_and_keeps_serving(wire: WireSettings) -> None:
    async with serving(settings=wire) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as good:
                stream = await good.open_stream(ECHO)
                raw = await anyio.connect_tcp("127.0.0.1", port)
                await raw.send(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
                received = b""
                try:
                    while True:
                        received += await raw.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass  # the server closed the connection
                await raw.aclose()
                # an invalid preface may be answered without GOAWAY (RFC 9113, 3.4):
                # at most our SETTINGS went out before the close
                frames = parse_frames(received)
                assert {type(f) for f in frames} <= {SettingsFrame, WindowUpdateFrame}
                # the other connection, and new ones, still work
                await stream.send(b"still here")
                assert await stream.receive() == b"still here"
                await _roundtrip(port, wire)


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        # PING with a 4-byte body
        (b"\x00\x00\x04\x06\x00\x00\x00\x00\x00abcd", ErrorCodes.FRAME_SIZE_ERROR),
        # WINDOW_UPDATE with increment 0 on the connection
        (b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00", ErrorCodes.PROTOCOL_ERROR),
        # DATA on stream 0
        (b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x", ErrorCodes.PROTOCOL_ERROR),
    ],
    ids=["ping-size", "window-zero", "data-stream0"],
)
async def test_malformed_frame_closes_that_connection_only(
        frame: bytes, error: int, wire: WireSettings) -> None:
    async with serving(settings=wire) as (_, port):
        with anyio.fail_after(10):
            raw = await anyio.connect_tcp("127.0.0.1", port)
            await raw.send(PREFACE + SettingsFrame(0).serialize() + frame)
            received = b""
            try:
                while True:
                    received += await raw.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
            await raw.aclose()
            goaways = [f for f in parse_frames(received) if isinstance(f, GoAwayFrame)]
            assert [g.error_code for g in goaways] == [error]
            await _roundtrip(port, wire)


async def test_oversized_request_fails_only_its_stream(wire: WireSettings) -> None:
    limit = 64 * 1024
    settings = with_io(WireSettings(max_receive_message_size=limit), wire)
    async with serving(settings=settings) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                other = await conn.open_stream(ECHO)
                big = await conn.open_stream(ECHO)
                await big.send(b"x" * limit)  # exactly the limit is fine
                assert await big.receive() == b"x" * limit
                big.send_nowait(b"x" * (limit + 1))
                with pytest.raises(StatusError) as info:
                    await big.receive()
                assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
                assert "larger than max" in info.value.message
                await other.send(b"fine")
                assert await other.receive() == b"fine"
                third = await conn.open_stream(ECHO)
                await third.send(b"new")
                assert await third.receive() == b"new"
            await _roundtrip(port, wire)


async def test_oversized_reply_is_resource_exhausted_and_the_connection_survives(
        wire: WireSettings) -> None:
    async def big_reply(stream: ServerStream) -> None:
        async for msg in stream:
            await stream.send(msg * 2)

    client = WireSettings(max_receive_message_size=1000)
    async with serving({ECHO: big_reply}, settings=wire) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=with_io(client, wire)) as conn:
                stream = await conn.open_stream(ECHO)
                await stream.send(b"y" * 600)
                with pytest.raises(MessageTooLarge):
                    await stream.receive()
                ok = await conn.open_stream(ECHO)
                await ok.send(b"y" * 500)
                assert await ok.receive() == b"y" * 1000


async def test_cancelled_receive_leaves_stream_and_connection_usable(wire: WireSettings) -> None:
    async with serving(settings=wire) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                stream = await conn.open_stream(ECHO)
                with anyio.CancelScope() as scope:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(stream.receive)
                        await anyio.wait_all_tasks_blocked()
                        scope.cancel()
                assert scope.cancelled_caught
                with anyio.move_on_after(0.01) as timeout:
                    await stream.receive()
                assert timeout.cancelled_caught
                await stream.send(b"after cancel")
                assert await stream.receive() == b"after cancel"
                other = await conn.open_stream(ECHO)
                await other.send(b"other")
                assert await other.receive() == b"other"


async def test_keepalive_timeout_breaks_a_connection_to_a_silent_peer(wire: WireSettings) -> None:
    settings = WireSettings(keepalive_interval=0.1, keepalive_timeout=0.2)
    async with raw_server() as (port, accept):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=with_io(settings, wire)) as conn:
                peer = await accept()
                await peer.handshake()
                stream = await conn.open_stream(ECHO)
                await peer.wait_for(h2.events.RequestReceived)
                # the peer stops reading and answering, but keeps the socket open
                with pytest.raises(ConnectionBroken, match="keepalive") as info:
                    await stream.receive()
                assert info.value is conn.error
                with pytest.raises(ConnectionBroken):
                    await conn.open_stream(ECHO)


async def test_keepalive_pings_are_answered_by_our_server(wire: WireSettings) -> None:
    # an unanswered PING would break the connection within 0.35 s of idling
    settings = WireSettings(keepalive_interval=0.05, keepalive_timeout=0.3)
    async with serving(settings=wire) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=with_io(settings, wire)) as conn:
                stream = await conn.open_stream(ECHO)
                rtt = await conn.ping()
                assert rtt >= 0
                await anyio.sleep(0.5)  # several idle intervals: pings go out and are answered
                assert conn.error is None
                await stream.send(b"alive")
                assert await stream.receive() == b"alive"


async def test_graceful_shutdown_lets_streams_in_flight_finish(wire: WireSettings) -> None:
    async with serving(settings=wire) as (srv, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn, \
                    anyio.create_task_group() as tg:
                stream = await conn.open_stream(ECHO)
                await stream.send(b"before")
                assert await stream.receive() == b"before"
                done = anyio.Event()

                async def shutdown() -> None:
                    await srv.graceful_shutdown(grace=5)
                    done.set()

                tg.start_soon(shutdown)
                # the GOAWAY goes out before this reply, so after it the client knows
                await stream.send(b"during")
                assert await stream.receive() == b"during"
                assert conn.core.goaway is not None
                assert conn.core.goaway.last_stream_id == stream.stream_id
                with pytest.raises(GoAwayError) as info:
                    await conn.open_stream(ECHO)
                assert info.value.code == StatusCode.UNAVAILABLE
                assert not done.is_set()  # still waiting for our stream
                stream.end()
                with pytest.raises(EndOfStream):
                    await stream.receive()
                await done.wait()


async def test_malformed_frame_from_the_server_breaks_the_client_connection(
        wire: WireSettings) -> None:
    async with raw_server() as (port, accept):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                peer = await accept()
                await peer.handshake()
                stream = await conn.open_stream(ECHO)
                await peer.wait_for(h2.events.RequestReceived)
                # WINDOW_UPDATE with increment 0 on the connection
                await peer.send_raw(b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00")
                with pytest.raises(ConnectionBroken, match="protocol error") as info:
                    await stream.receive()
                assert info.value is conn.error
                # the client said why (GOAWAY) and closed the socket
                try:
                    while True:
                        await peer.read()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass
                goaways = [e for e in peer.events
                           if isinstance(e, h2.events.ConnectionTerminated)]
                assert [g.error_code for g in goaways] == [ErrorCodes.PROTOCOL_ERROR]


async def test_closing_our_side_fails_waiters_with_connection_closed(wire: WireSettings) -> None:
    async with serving(settings=wire) as (_, port):
        with anyio.fail_after(10):
            errors: list[BaseException] = []
            async with connect("127.0.0.1", port, settings=wire) as conn:
                stream = await conn.open_stream(ECHO)

                async def receive() -> None:
                    try:
                        await stream.receive()
                    except ConnectionClosed as exc:
                        errors.append(exc)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(receive)
                    await anyio.wait_all_tasks_blocked()
                    await conn.aclose()
            assert len(errors) == 1 and errors[0] is conn.error
            assert errors[0].code == StatusCode.CANCELLED
            with pytest.raises(ConnectionClosed):
                await conn.open_stream(ECHO)
            with pytest.raises(ConnectionClosed):
                stream.send_nowait(b"late")
            await _roundtrip(port, wire)  # the server is fine
