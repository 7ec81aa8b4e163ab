"""A raw HTTP/2 server (h2, server role) that behaves like grpc-go in the captures.

What the Go Gorums v0.11 server does on the wire (go-v0.11-*-decoded.txt):

* its SETTINGS carry only ``MAX_FRAME_SIZE=16384``;
* each received DATA frame is answered with a connection WINDOW_UPDATE of
  its size (we also update the stream window, as grpc-go does in batches);
* before each reply it sends a BDP PING with opaque ``02041010090e0707``
  (with the WINDOW_UPDATE and the reply, in one write);
* the response HEADERS go out lazily, together with the first reply;
* the stream ends with trailers when the client half-closes;
* with ``kill_first_stream``, the first message on the first stream is
  answered as Go v0.11 answers a message it cannot take (an unknown method,
  an oversized message): a trailers-only response with grpc-status 13 and
  RST_STREAM NO_ERROR (go-v0.11-server-probes-decoded.txt), the connection
  staying up.

The handler here echoes each gRPC message. It records what it saw, so tests
can check that our client acknowledged every PING, sent the ACKs with its
next request rather than on their own, and stayed within the frame size.
Runs on the test's event loop (any anyio backend).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
from h2.settings import SettingCodes
from hyperframe.frame import SettingsFrame

BDP_PING = bytes.fromhex("02041010090e0707")
# the Go v0.11 server's trailers-only response ending a NodeStream (probes capture)
GO_STREAM_ERROR = [
    (b":status", b"200"), (b"content-type", b"application/grpc+gorums"), (b"grpc-status", b"13"),
    (b"grpc-message", b"grpc: failed to unmarshal the received message: gorums: could not find"
                      b" method descriptor for proto.Storage.NoSuchMethod"),
]


@dataclass
class GoLikeStats:
    requests: list[list[tuple[bytes, bytes]]] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    pings_sent: int = 0
    ping_acks: list[bytes] = field(default_factory=list)
    max_data_frame: int = 0
    trailers_sent: bool = False
    closed_by_client: bool = False
    reads: int = 0
    lone_ack_reads: int = 0  # reads that held PING ACKs and nothing else
    connections: int = 0
    killed_streams: list[int] = field(default_factory=list)


class GoLikeServer:
    """Serve one connection at a time the way grpc-go does (see module doc)."""

    def __init__(self, *, kill_first_stream: bool = False) -> None:
        self.stats = GoLikeStats()
        self.kill_first_stream = kill_first_stream

    async def serve(self, *, task_status: anyio.abc.TaskStatus[int]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener:
            task_status.started(port)
            await listener.serve(self._connection)

    async def _connection(self, sock: anyio.abc.SocketStream) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        conn.data_to_send()  # h2's own SETTINGS are replaced by Go's single setting:
        await sock.send(SettingsFrame(0, settings={SettingCodes.MAX_FRAME_SIZE: 16384}).serialize())
        buffers: dict[int, bytes] = {}
        answered: set[int] = set()
        stats = self.stats
        stats.connections += 1
        async with sock:
            while True:
                try:
                    data = await sock.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    stats.closed_by_client = True
                    return
                stats.reads += 1
                if _only_ping_acks(data):
                    stats.lone_ack_reads += 1
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        stats.requests.append(list(event.headers or []))
                        buffers[event.stream_id] = b""
                    elif isinstance(event, h2.events.DataReceived):
                        sid = event.stream_id
                        size = event.flow_controlled_length
                        stats.max_data_frame = max(stats.max_data_frame, size)
                        if size:
                            conn.increment_flow_control_window(size)
                            conn.increment_flow_control_window(size, sid)
                        buf = buffers.get(sid, b"") + event.data
                        while len(buf) >= 5:
                            _, length = struct.unpack(">BI", buf[:5])
                            if len(buf) < 5 + length:
                                break
                            msg, buf = buf[5 : 5 + length], buf[5 + length :]
                            stats.messages.append(msg)
                            if self.kill_first_stream and not stats.killed_streams:
                                stats.killed_streams.append(sid)
                                conn.ping(BDP_PING)
                                conn.send_headers(sid, GO_STREAM_ERROR, end_stream=True)
                                conn.reset_stream(sid, 0)  # NO_ERROR
                                buf = b""
                                break
                            conn.ping(BDP_PING)
                            stats.pings_sent += 1
                            if sid not in answered:
                                answered.add(sid)
                                conn.send_headers(sid, [(b":status", b"200"),
                                                        (b"content-type",
                                                         b"application/grpc+gorums")])
                            conn.send_data(sid, struct.pack(">BI", 0, len(msg)) + msg)
                        buffers[sid] = buf
                    elif isinstance(event, h2.events.PingAckReceived):
                        stats.ping_acks.append(bytes(event.ping_data or b""))
                    elif isinstance(event, h2.events.StreamEnded):
                        conn.send_headers(event.stream_id, [(b"grpc-status", b"0")],
                                          end_stream=True)
                        stats.trailers_sent = True
                out = conn.data_to_send()
                if out:
                    await sock.send(out)


def _only_ping_acks(data: bytes) -> bool:
    """True if ``data`` is whole PING ACK frames (9-byte header, 8 bytes) only."""
    if not data or len(data) % 17:
        return False
    return all(data[pos + 3] == 0x6 and data[pos + 4] & 0x1 for pos in range(0, len(data), 17))
