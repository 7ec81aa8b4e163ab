"""Tunables of the wire layer, shared by clients and servers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gorums_h2.wire.framing import DEFAULT_MAX_MESSAGE_SIZE, ENCODINGS

if TYPE_CHECKING:  # not at runtime: the sans-IO core imports this module without anyio
    from gorums_h2.wire.io_backends import IOBackend

__all__ = ["WireSettings"]

MiB = 1024 * 1024
CLIENT_CONNECTION_WINDOW = 64 * MiB  # WireSettings.connection_window=None on a client
SERVER_CONNECTION_WINDOW = 2 * MiB  # ... and on a server


@dataclass(frozen=True, slots=True)
class WireSettings:
    """Connection and stream settings (keyword-only, immutable).

    Flow control: we advertise ``stream_window`` per stream and raise the
    connection window to ``connection_window``, and acknowledge data as it is
    consumed, so bulk transfers are bounded by the peer, not by us.
    ``connection_window`` None (default) is 64 MiB on a client and 4 MiB
    on a server: what a server's peer may send beyond what its handlers
    took is what a peer that stops taking replies can make it hold
    (``max_window_backlog``), and 4 MiB is still 40 GB/s at 0.1 ms or
    80 MB/s at 50 ms round trip (grpc-go: 64 KiB, grown by BDP estimation
    up to 16 MiB).

    * ``max_receive_message_size``: larger messages fail the stream with
      RESOURCE_EXHAUSTED (grpc-go's default, 4 MiB).
    * ``max_send_message_size``: larger outgoing messages are refused locally
      with RESOURCE_EXHAUSTED before anything is sent (None: no limit; a
      limit must be positive, ValueError otherwise).
    * ``compression``: ``"gzip"`` (or ``"deflate"``) compresses what we send:
      a client's requests (``grpc-encoding``), a server's replies to clients
      that accept it (``grpc-accept-encoding``). None (default): nothing is
      compressed and no compression header is sent. Compressed messages are
      decoded either way.
    * ``max_frame_size``: the largest DATA frame we accept (SETTINGS).
    * ``max_concurrent_streams``: the streams a peer may have open at once
      (advertised in SETTINGS, and enforced from the connection's start:
      excess streams get RST_STREAM REFUSED_STREAM; None: no limit). 100,
      RFC 9113's recommended minimum; grpc-go advertises no limit.
    * ``send_buffer_bytes``: queued-but-unwritten *bytes* per stream above
      which :meth:`Stream.send` waits (back-pressure); positive. (The
      runtime's ``Manager(send_buffer_size=)`` counts *messages*.)
    * ``keepalive_interval`` / ``keepalive_timeout``: when set, a PING is sent
      after that many idle seconds and an unanswered PING breaks the
      connection with :class:`~gorums_h2.wire.errors.ConnectionBroken`.
    * ``peer_probe_after`` / ``peer_probe_timeout`` / ``peer_probe_min_interval``
      (client, :class:`~gorums_h2.Manager`): when a connection has had replies
      outstanding or writes undrained, and received nothing, for
      ``peer_probe_after`` seconds, a PING is sent — if the server sent a
      reply since the last PING's ACK, or ``peer_probe_min_interval`` seconds
      passed, or as the one PING between two replies that grpc-go's
      enforcement policy may count as a strike (it forgives two) — and
      no ACK within ``peer_probe_timeout`` breaks the connection with
      :class:`~gorums_h2.wire.errors.ConnectionBroken`. None: off.
    * ``tcp_keepalive``: TCP keepalive idle time and probe interval in seconds
      on client sockets (Go's dialer default, 15 s; None: off).
    * ``tcp_user_timeout``: ``TCP_USER_TIMEOUT`` on client sockets, where the
      platform has it: written data unacknowledged for that many seconds
      breaks the connection (None: the kernel's default, minutes).
    * ``connect_timeout``: seconds for TCP connect plus TLS handshake.
    * ``read_size``: bytes asked of the socket per read.
    * ``io_backend``: how connections move bytes
      (:mod:`gorums_h2.wire.io_backends`: ``AsyncioBackend()``,
      ``TrioBackend()``, ``AnyioBackend()``); None (default): the running
      loop's native backend. A backend that does not run on the running
      loop makes connecting and serving raise RuntimeError.
    * ``h2_fast_path``: parse and build plain DATA, PING and WINDOW_UPDATE
      frames next to h2 with h2's exact accounting (default); False sends
      every frame through h2's own code (the reference the differential
      tests compare against; slower).

    Defences against abusive peers (docs/security.md); exceeding a budget
    sends GOAWAY ENHANCE_YOUR_CALM and closes the connection. The three
    backlogs pause reading on the server side only (a client always reads):

    * ``max_stream_resets``: streams reset by the peer before they completed,
      plus streams we refused, per ``abuse_window`` seconds (rapid reset,
      CVE-2023-44487).
    * ``max_empty_frames``: frames that carry nothing (PING, SETTINGS,
      PRIORITY, unknown types, DATA with neither payload nor END_STREAM) per
      ``abuse_window`` seconds (CVE-2019-9512/9515/9518; grpc-go refuses a
      client's PINGs more often than every 5 minutes without data).
    * ``max_control_backlog``: PING and SETTINGS acknowledgements queued
      while the transport does not take our writes; above it we stop reading
      until they are written (grpc-go's 50; CVE-2019-9512/9515).
    * ``max_output_backlog``: bytes queued for the peer while the transport
      does not take our writes; above it we stop reading (no new requests)
      until they drain. Bytes waiting only for the peer's flow-control window
      do not pause reading (the WINDOW_UPDATE must still get in).
    * ``max_inbound_backlog``: bytes of received messages queued in a
      connection's streams and not yet read; above it we stop reading until
      the handlers catch up (the flow-control windows allow far more).
    * ``max_window_backlog``: bytes of replies (plus 64 per queued piece)
      waiting for the peer's flow-control windows; above it the server's
      handlers get no new messages from that connection: what arrives is
      kept as received bytes, unacknowledged, so the peer runs out of
      window (at most ``connection_window`` is held), while control frames
      (WINDOW_UPDATE, PING, SETTINGS, RST_STREAM, GOAWAY) are processed as
      ever. Once the windows open the messages are decoded and run.
    * ``window_starve_timeout``: seconds a connection may stay above
      ``max_window_backlog`` while it keeps sending; then GOAWAY
      ENHANCE_YOUR_CALM (None: never).
    * The header block of one HEADERS+CONTINUATION sequence may not exceed
      4 x ``max_header_list_size`` + 16 KiB encoded bytes while it
      accumulates (HPACK can at worst expand that much).
    """

    max_receive_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_send_message_size: int | None = None
    compression: str | None = None
    stream_window: int = 16 * MiB
    connection_window: int | None = None
    max_frame_size: int = 1 * MiB
    max_concurrent_streams: int | None = 100
    max_header_list_size: int = 64 * 1024
    send_buffer_bytes: int = 4 * MiB
    keepalive_interval: float | None = None
    keepalive_timeout: float = 20.0
    peer_probe_after: float | None = 3.0
    peer_probe_timeout: float = 5.0
    peer_probe_min_interval: float = 310.0
    tcp_keepalive: float | None = 15.0
    tcp_user_timeout: float | None = 10.0
    connect_timeout: float = 20.0
    read_size: int = 256 * 1024
    max_stream_resets: int = 1000
    max_empty_frames: int = 1000
    abuse_window: float = 10.0
    max_control_backlog: int = 50
    max_output_backlog: int = 512 * 1024
    max_inbound_backlog: int = 1 * MiB
    max_window_backlog: int = 256 * 1024
    window_starve_timeout: float | None = 20.0
    io_backend: IOBackend | None = None
    h2_fast_path: bool = True

    def __post_init__(self) -> None:
        if not 16384 <= self.max_frame_size <= 16777215:
            raise ValueError("max_frame_size must be within 16384..16777215")
        if not 65535 <= self.stream_window <= 2**31 - 1:
            raise ValueError("stream_window must be within 65535..2**31-1")
        if self.connection_window is not None and not (
                65535 <= self.connection_window <= 2**31 - 1):
            raise ValueError("connection_window must be within 65535..2**31-1 (or None)")
        if self.max_window_backlog < 0:
            raise ValueError("max_window_backlog must not be negative")
        if self.window_starve_timeout is not None and self.window_starve_timeout <= 0:
            raise ValueError("window_starve_timeout must be positive (or None)")
        if self.max_concurrent_streams is not None and self.max_concurrent_streams < 1:
            raise ValueError("max_concurrent_streams must be at least 1 (or None)")
        if self.abuse_window <= 0:
            raise ValueError("abuse_window must be positive")
        if self.compression is not None and self.compression not in ENCODINGS:
            raise ValueError(f"compression must be None or one of {sorted(ENCODINGS)}, "
                             f"not {self.compression!r}")
        if self.max_receive_message_size <= 0:
            raise ValueError("max_receive_message_size must be positive")
        if self.max_send_message_size is not None and self.max_send_message_size <= 0:
            raise ValueError("max_send_message_size must be positive (or None: no limit)")
        if self.send_buffer_bytes <= 0:
            raise ValueError("send_buffer_bytes must be positive")
        for name in ("peer_probe_after", "tcp_keepalive", "tcp_user_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (or None)")
        if self.io_backend is not None:
            from gorums_h2.wire.io_backends import IOBackend

            if not isinstance(self.io_backend, IOBackend):
                raise TypeError(f"io_backend must be an IOBackend or None, "
                                f"not {self.io_backend!r}")
        if self.peer_probe_timeout <= 0:
            raise ValueError("peer_probe_timeout must be positive")
