"""gRPC over HTTP/2, on h2 and anyio byte streams.

Layers, bottom up: :mod:`~.framing` (length-prefixed messages),
:mod:`~.headers` and :mod:`~.metadata` (header blocks), :mod:`~.status`
and :mod:`~.errors` (outcomes), :mod:`~.protocol` (sans-IO connection and
stream state on h2), :mod:`~.connection` (the anyio driver), and the
:mod:`~.client` and :mod:`~.server` entry points (:mod:`~.server_stream`
the server end of a call, :mod:`~.lifecycle` the server's connection limits,
:mod:`~.tls` TLS contexts and the ALPN check, :mod:`~._hpack` linear-time
header encoding).
"""

from gorums_h2.wire.client import (
    ClientConnection,
    ClientStream,
    client_ssl_context,
    connect,
    open_transport,
)
from gorums_h2.wire.connection import Connection, Signal, Stream
from gorums_h2.wire.errors import (
    ConnectionBroken,
    ConnectionClosed,
    EndOfStream,
    GoAwayError,
    HeaderListTooLarge,
    MessageTooLarge,
    ProtocolViolation,
    StreamClosed,
    StreamReset,
    WireError,
)
from gorums_h2.wire.framing import DEFAULT_MAX_MESSAGE_SIZE, MessageDecoder, encode_message
from gorums_h2.wire.lifecycle import ServerLimits
from gorums_h2.wire.metadata import Metadata, MetadataLike, MetadataValue
from gorums_h2.wire.server import (
    ServerConnection,
    ServerStream,
    StreamHandler,
    WireServer,
    server_ssl_context,
)
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.status import StatusCode, StatusError, escape_peer_text
from gorums_h2.wire.tls import check_alpn_h2

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ClientConnection",
    "ClientStream",
    "Connection",
    "ConnectionBroken",
    "ConnectionClosed",
    "EndOfStream",
    "GoAwayError",
    "HeaderListTooLarge",
    "MessageDecoder",
    "MessageTooLarge",
    "Metadata",
    "MetadataLike",
    "MetadataValue",
    "ProtocolViolation",
    "ServerConnection",
    "ServerLimits",
    "ServerStream",
    "Signal",
    "StatusCode",
    "StatusError",
    "Stream",
    "StreamClosed",
    "StreamHandler",
    "StreamReset",
    "WireError",
    "WireServer",
    "WireSettings",
    "check_alpn_h2",
    "client_ssl_context",
    "connect",
    "encode_message",
    "escape_peer_text",
    "open_transport",
    "server_ssl_context",
]
