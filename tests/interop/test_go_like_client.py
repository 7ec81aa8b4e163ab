"""Our server answering a client that talks like grpc-go: per reply it
receives, a connection WINDOW_UPDATE and a BDP PING (when none is
outstanding), sent with its next request (../shared/interop "Control frames
at steady state").

The server must ACK every PING, send each ACK with a reply rather than in a
write of its own, and never count these PINGs against its budget of frames
without payload (a Go client at thousands of calls per second would
otherwise be cut off with ENHANCE_YOUR_CALM).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

import anyio
import h2.config
import h2.connection
import h2.events
import pytest
from go_like_peer import BDP_PING

from gorums_h2.wire import ServerStream, WireServer, WireSettings

pytestmark = pytest.mark.anyio

ECHO = "/test.Echo/Bidi"


async def _echo(stream: ServerStream) -> None:
    async for msg in stream:
        await stream.send(msg)


@dataclass
class _Seen:
    replies: int = 0
    ping_acks: int = 0
    reads: int = 0
    lone_ack_reads: int = 0  # reads holding PING ACKs and nothing else
    goaway: bool = False


async def _go_like_client(port: int, rounds: int) -> _Seen:
    """``rounds`` requests on one stream, one at a time, each after the
    previous reply, with grpc-go's control frames in front of it."""
    seen = _Seen()
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    conn.send_headers(1, [(b":method", b"POST"), (b":scheme", b"http"),
                          (b":path", ECHO.encode()), (b":authority", b"127.0.0.1"),
                          (b"content-type", b"application/grpc"), (b"te", b"trailers")])
    pinged = False
    async with await anyio.connect_tcp("127.0.0.1", port) as sock:
        for i in range(rounds):
            body = i.to_bytes(4, "big")
            conn.send_data(1, struct.pack(">BI", 0, len(body)) + body)
            await sock.send(conn.data_to_send())
            got = b""
            while len(got) < 9:
                data = await sock.receive()
                seen.reads += 1
                if len(data) % 17 == 0 and all(
                        data[p + 3] == 0x6 and data[p + 4] & 0x1 for p in range(0, len(data), 17)):
                    seen.lone_ack_reads += 1
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.DataReceived):
                        got += event.data
                        size = event.flow_controlled_length
                        # grpc-go: connection credit at once, a BDP PING unless
                        # one is outstanding; both leave with the next request
                        conn.increment_flow_control_window(size)
                        conn.acknowledge_received_data(size, 1)
                        if not pinged:
                            conn.ping(BDP_PING)
                            pinged = True
                    elif isinstance(event, h2.events.PingAckReceived):
                        assert event.ping_data == BDP_PING
                        seen.ping_acks += 1
                        pinged = False
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        seen.goaway = True
                        return seen
            assert got == struct.pack(">BI", 0, 4) + body
            seen.replies += 1
        # one more request carries the last PING; its reply brings the ACK
        conn.end_stream(1)
        await sock.send(conn.data_to_send())
        with anyio.fail_after(5):
            while pinged:
                for event in conn.receive_data(await sock.receive()):
                    if isinstance(event, h2.events.PingAckReceived):
                        seen.ping_acks += 1
                        pinged = False
    return seen


async def test_server_answers_go_like_client_within_its_budgets(wire: WireSettings) -> None:
    """300 calls with a PING each, against a budget of 20 frames without
    payload: none of those PINGs counts, every one is ACKed, and the ACKs
    ride with the replies."""
    rounds = 300
    srv = WireServer({ECHO: _echo}, settings=replace(wire, max_empty_frames=20))
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(lambda task_status: srv.serve_tcp(
            "127.0.0.1", 0, task_status=task_status))
        with anyio.fail_after(30):
            seen = await _go_like_client(port, rounds)
        srv.stop()
    assert not seen.goaway
    assert seen.replies == rounds
    assert seen.ping_acks == rounds  # one PING per reply but the first
    # every ACK but (at most) the last went out with a reply
    assert seen.lone_ack_reads <= 2, seen


async def test_ping_flood_without_data_still_counts(wire: WireSettings) -> None:
    """The free PING is one per DATA frame: PINGs without data in between
    still exhaust the budget (GOAWAY ENHANCE_YOUR_CALM)."""
    srv = WireServer({ECHO: _echo}, settings=replace(wire, max_empty_frames=20))
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(lambda task_status: srv.serve_tcp(
            "127.0.0.1", 0, task_status=task_status))
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        goaway = None
        with anyio.fail_after(10):
            async with await anyio.connect_tcp("127.0.0.1", port) as sock:
                for _ in range(40):
                    conn.ping(BDP_PING)
                await sock.send(conn.data_to_send())
                while goaway is None:
                    try:
                        data = await sock.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        break
                    for event in conn.receive_data(data):
                        if isinstance(event, h2.events.ConnectionTerminated):
                            goaway = event.error_code
        srv.stop()
    assert goaway == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
