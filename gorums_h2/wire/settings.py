"""Tunables of the wire layer, shared by clients and servers."""

from __future__ import annotations

from dataclasses import dataclass

from gorums_h2.wire.framing import DEFAULT_MAX_MESSAGE_SIZE, ENCODINGS

__all__ = ["WireSettings"]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class WireSettings:
    """Connection and stream settings (keyword-only, immutable).

    Flow control: we advertise ``stream_window`` per stream and raise the
    connection window to ``connection_window``, and acknowledge data as it is
    consumed, so bulk transfers are bounded by the peer, not by us.

    * ``max_receive_message_size``: larger messages fail the stream with
      RESOURCE_EXHAUSTED (grpc-go's default, 4 MiB).
    * ``max_send_message_size``: larger outgoing messages are refused locally
      with RESOURCE_EXHAUSTED before anything is sent (None: no limit).
    * ``compression``: ``"gzip"`` (or ``"deflate"``) compresses what we send:
      a client's requests (``grpc-encoding``), a server's replies to clients
      that accept it (``grpc-accept-encoding``). None (default): nothing is
      compressed and no compression header is sent. Compressed messages are
      decoded either way.
    * ``max_frame_size``: the largest DATA frame we accept (SETTINGS).
    * ``max_concurrent_streams``: what a server advertises (None: no limit).
    * ``send_buffer_bytes``: queued-but-unwritten bytes per stream above which
      :meth:`Stream.send` waits (back-pressure).
    * ``keepalive_interval`` / ``keepalive_timeout``: when set, a PING is sent
      after that many idle seconds and an unanswered PING breaks the
      connection with :class:`~gorums_h2.wire.errors.ConnectionBroken`.
    * ``peer_probe_after`` / ``peer_probe_timeout`` / ``peer_probe_min_interval``
      (client, :class:`~gorums_h2.Manager`): when a connection has had replies
      outstanding or writes undrained, and received nothing, for
      ``peer_probe_after`` seconds, a PING is sent — only if the server sent a
      reply since the last PING's ACK or ``peer_probe_min_interval`` seconds
      passed (grpc-go's enforcement policy never counts it as a strike) — and
      no ACK within ``peer_probe_timeout`` breaks the connection with
      :class:`~gorums_h2.wire.errors.ConnectionBroken`. None: off.
    * ``tcp_keepalive``: TCP keepalive idle time and probe interval in seconds
      on client sockets (Go's dialer default, 15 s; None: off).
    * ``tcp_user_timeout``: ``TCP_USER_TIMEOUT`` on client sockets, where the
      platform has it: written data unacknowledged for that many seconds
      breaks the connection (None: the kernel's default, minutes).
    * ``connect_timeout``: seconds for TCP connect plus TLS handshake.
    * ``read_size``: bytes asked of the socket per read.
    """

    max_receive_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_send_message_size: int | None = None
    compression: str | None = None
    stream_window: int = 16 * MiB
    connection_window: int = 64 * MiB
    max_frame_size: int = 1 * MiB
    max_concurrent_streams: int | None = None
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

    def __post_init__(self) -> None:
        if not 16384 <= self.max_frame_size <= 16777215:
            raise ValueError("max_frame_size must be within 16384..16777215")
        if not 65535 <= self.stream_window <= 2**31 - 1:
            raise ValueError("stream_window must be within 65535..2**31-1")
        if not 65535 <= self.connection_window <= 2**31 - 1:
            raise ValueError("connection_window must be within 65535..2**31-1")
        if self.compression is not None and self.compression not in ENCODINGS:
            raise ValueError(f"compression must be None or one of {sorted(ENCODINGS)}, "
                             f"not {self.compression!r}")
        if self.max_receive_message_size <= 0:
            raise ValueError("max_receive_message_size must be positive")
        for name in ("peer_probe_after", "tcp_keepalive", "tcp_user_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (or None)")
        if self.peer_probe_timeout <= 0:
            raise ValueError("peer_probe_timeout must be positive")
