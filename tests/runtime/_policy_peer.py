"""A gorums server peer on raw h2 that enforces grpc-go's keepalive policy and
can stall or black-hole on command (for the client's fault tests).

* It answers every gorums request by echoing its envelope (same seq number
  and method, the request message as the reply: right for the testing
  service's ``Echo`` methods), after ``reply_delay`` seconds, with response
  HEADERS before the first reply, like grpc-go.
* PINGs are judged as grpc-go's server does (``http2_server.handlePing``,
  ``keepalive.EnforcementPolicy`` with an open stream): a PING is a strike
  when it arrives less than ``min_time`` after the previous PING, unless the
  server wrote DATA or HEADERS since (that resets strikes and timer); more
  than two strikes draw GOAWAY ENHANCE_YOUR_CALM ``too_many_pings`` and the
  connection is closed.
* ``mode``: ``"serve"``; ``"stall"`` stops reading the socket (the kernel
  buffers fill, as with a SIGSTOPped process); ``"blackhole"`` reads and
  drops everything and never writes again (no PING ACK, no replies) while the
  socket stays open, as a dead link looks to the client.

Windows are opened wide (2**31-1), so a stalled peer is limited by the
socket, not by flow control. Runs on the test's event loop (any backend);
everything stops when the test's task group ends.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
import h2.settings
from h2.errors import ErrorCodes

MAX_WINDOW = 2**31 - 1
RCVBUF = 256 * 1024


@dataclass
class PeerStats:
    connections: int = 0
    pings: int = 0
    strikes: int = 0
    max_strikes: int = 0
    too_many_pings: bool = False
    seqs: list[int] = field(default_factory=list)  # seq numbers of requests, in arrival order


def _seq_of(envelope: bytes) -> int:
    """The message_seq_no of a gorums envelope (field 1 of its metadata)."""
    from gorums_h2.codec.envelope import split
    from gorums_h2.pb import ordering_pb2

    md, _ = split(envelope)
    return int(ordering_pb2.Metadata.FromString(md).message_seq_no)


class PolicyPeer:
    """See the module doc. ``await tg.start(peer.serve)`` returns the port."""

    def __init__(self, *, reply_delay: float = 0.0, min_time: float = 300.0) -> None:
        self.reply_delay = reply_delay
        self.min_time = min_time
        self.mode = "serve"
        self.stats = PeerStats()
        self._resume = anyio.Event()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == "serve":
            self._resume.set()
            self._resume = anyio.Event()

    async def serve(self, *, task_status: anyio.abc.TaskStatus[int]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        # a fixed receive buffer, inherited by the accepted sockets: autotuned,
        # it grows to tcp_rmem's maximum (32 MiB here), and a client filling a
        # stalled peer's socket then needs a load-dependent number of writes
        raw = listener.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        async with listener:
            task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
            await listener.serve(self._connection)

    async def _connection(self, sock: anyio.abc.SocketStream) -> None:
        self.stats.connections += 1
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        conn = h2.connection.H2Connection(config=config)
        conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: MAX_WINDOW,
            h2.settings.SettingCodes.MAX_FRAME_SIZE: 16384})
        conn.initiate_connection()
        conn.increment_flow_control_window(MAX_WINDOW - 65535)
        lock = anyio.Lock()
        state = {"reset_strikes": False, "last_ping": None, "strikes": 0}
        answered: set[int] = set()
        buffers: dict[int, bytes] = {}
        stats = self.stats

        async def flush() -> None:
            async with lock:
                data = conn.data_to_send()
                if data and self.mode == "serve":
                    try:
                        await sock.send(data)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass

        async def reply(sid: int, msg: bytes) -> None:
            if self.reply_delay:
                await anyio.sleep(self.reply_delay)
            if self.mode != "serve" or conn.state_machine.state.name == "CLOSED":
                return
            try:
                if sid not in answered:
                    answered.add(sid)
                    conn.send_headers(sid, [(b":status", b"200"),
                                            (b"content-type", b"application/grpc+gorums")])
                conn.send_data(sid, struct.pack(">BI", 0, len(msg)) + msg)
            except Exception:
                return  # the stream or connection is gone
            state["reset_strikes"] = True  # grpc-go: set when DATA/HEADERS are written
            await flush()

        async with sock, anyio.create_task_group() as tg:
            await flush()
            while True:
                if self.mode == "stall":
                    await self._resume.wait()
                    continue
                try:
                    data = await sock.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    tg.cancel_scope.cancel()
                    return
                if self.mode == "blackhole":
                    continue
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        buffers[event.stream_id] = b""
                    elif isinstance(event, h2.events.DataReceived):
                        sid = event.stream_id
                        if event.flow_controlled_length:
                            conn.acknowledge_received_data(event.flow_controlled_length, sid)
                        buf = buffers.get(sid, b"") + event.data
                        while len(buf) >= 5:
                            (length,) = struct.unpack(">I", buf[1:5])
                            if len(buf) < 5 + length:
                                break
                            msg, buf = buf[5:5 + length], buf[5 + length:]
                            stats.seqs.append(_seq_of(msg))
                            tg.start_soon(reply, sid, msg)
                        buffers[sid] = buf
                    elif isinstance(event, h2.events.PingReceived):
                        self._judge_ping(conn, state)
                    elif isinstance(event, h2.events.StreamEnded):
                        conn.send_headers(event.stream_id, [(b"grpc-status", b"0")],
                                          end_stream=True)
                await flush()
                if stats.too_many_pings:
                    tg.cancel_scope.cancel()
                    return

    def _judge_ping(self, conn: h2.connection.H2Connection, state: dict[str, object]) -> None:
        """grpc-go's http2Server.handlePing for a connection with an open stream."""
        stats = self.stats
        stats.pings += 1
        now = anyio.current_time()
        last = state["last_ping"]
        state["last_ping"] = now
        if state["reset_strikes"]:
            state["reset_strikes"] = False
            state["strikes"] = 0
        elif isinstance(last, float) and now - last < self.min_time:
            state["strikes"] = int(state["strikes"]) + 1  # type: ignore[call-overload]
        strikes = int(state["strikes"])  # type: ignore[call-overload]
        stats.strikes = strikes
        stats.max_strikes = max(stats.max_strikes, strikes)
        if strikes > 2:
            stats.too_many_pings = True
            conn.close_connection(error_code=ErrorCodes.ENHANCE_YOUR_CALM,
                                  additional_data=b"too_many_pings")
