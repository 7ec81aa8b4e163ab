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
