"""gRPC over HTTP/2, on h2 and anyio byte streams.

Layers, bottom up: :mod:`~.framing` (length-prefixed messages),
:mod:`~.headers` and :mod:`~.metadata` (header blocks), :mod:`~.status`
and :mod:`~.errors` (outcomes), :mod:`~.protocol` (sans-IO connection and
stream state on h2), :mod:`~.connection` (the anyio driver), and the
:mod:`~.client` and :mod:`~.server` entry points (:mod:`~.server_stream`
the server end of a call, :mod:`~.lifecycle` the server's connection limits,
:mod:`~.tls` TLS contexts and the ALPN check, :mod:`~._hpack` linear-time
header encoding, :mod:`~.signal` the wake-up waiters wait on, :mod:`~.clock`
the event loop's clock). Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gorums_h2._lazy import lazy_exports

if TYPE_CHECKING:  # the names for mypy and IDEs; at runtime __getattr__ imports them
    from gorums_h2.wire.client import (
        ClientConnection,
        ClientStream,
        client_ssl_context,
        connect,
        open_transport,
    )
    from gorums_h2.wire.connection import Connection, Stream
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
    from gorums_h2.wire.signal import Signal
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

# Where each public name lives, imported on first access (PEP 562): the sans-IO
# modules (framing, headers, metadata, status) load without h2's driver,
# anyio or TLS (tests/test_imports.py).
_EXPORTS: dict[str, str] = {
    "ClientConnection": "gorums_h2.wire.client",
    "ClientStream": "gorums_h2.wire.client",
    "client_ssl_context": "gorums_h2.wire.client",
    "connect": "gorums_h2.wire.client",
    "open_transport": "gorums_h2.wire.client",
    "Connection": "gorums_h2.wire.connection",
    "Signal": "gorums_h2.wire.signal",
    "Stream": "gorums_h2.wire.connection",
    "ConnectionBroken": "gorums_h2.wire.errors",
    "ConnectionClosed": "gorums_h2.wire.errors",
    "EndOfStream": "gorums_h2.wire.errors",
    "GoAwayError": "gorums_h2.wire.errors",
    "HeaderListTooLarge": "gorums_h2.wire.errors",
    "MessageTooLarge": "gorums_h2.wire.errors",
    "ProtocolViolation": "gorums_h2.wire.errors",
    "StreamClosed": "gorums_h2.wire.errors",
    "StreamReset": "gorums_h2.wire.errors",
    "WireError": "gorums_h2.wire.errors",
    "DEFAULT_MAX_MESSAGE_SIZE": "gorums_h2.wire.framing",
    "MessageDecoder": "gorums_h2.wire.framing",
    "encode_message": "gorums_h2.wire.framing",
    "ServerLimits": "gorums_h2.wire.lifecycle",
    "Metadata": "gorums_h2.wire.metadata",
    "MetadataLike": "gorums_h2.wire.metadata",
    "MetadataValue": "gorums_h2.wire.metadata",
    "ServerConnection": "gorums_h2.wire.server",
    "ServerStream": "gorums_h2.wire.server",
    "StreamHandler": "gorums_h2.wire.server",
    "WireServer": "gorums_h2.wire.server",
    "server_ssl_context": "gorums_h2.wire.server",
    "WireSettings": "gorums_h2.wire.settings",
    "StatusCode": "gorums_h2.wire.status",
    "StatusError": "gorums_h2.wire.status",
    "escape_peer_text": "gorums_h2.wire.status",
    "check_alpn_h2": "gorums_h2.wire.tls",
}


# Hidden from type checkers: they would otherwise accept any name imported
# from this package, misspelled ones included.
if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
