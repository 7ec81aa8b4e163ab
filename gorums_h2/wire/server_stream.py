"""The server end of one gRPC call (see :mod:`gorums_h2.wire.server`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from gorums_h2.wire._hpack import MAX_SEND_HEADER_LIST_SIZE, header_list_size
from gorums_h2.wire.connection import Stream
from gorums_h2.wire.errors import HeaderListTooLarge
from gorums_h2.wire.headers import RequestHead, build_response_headers, build_trailers
from gorums_h2.wire.metadata import Metadata, MetadataLike
from gorums_h2.wire.protocol import ConnectionCore
from gorums_h2.wire.status import StatusCode

__all__ = ["ServerStream"]

_EMPTY_HEAD = RequestHead("", "", "", None, None, Metadata())


class ServerStream(Stream):
    """The server end of one gRPC call.

    ``head`` is the validated request (path, metadata, timeout), ``peer`` the
    client's address, ``shutdown_requested`` an event set when the server
    starts a graceful shutdown (long-lived streams should finish and end).
    """

    __slots__ = ("cancel_scope", "head", "peer", "shutdown_requested")

    def __init__(self, conn: ConnectionCore, stream_id: int,
                 message_queued: Callable[[], None] | None = None) -> None:
        super().__init__(conn, stream_id, client_side=False, message_queued=message_queued)
        self.head = _EMPTY_HEAD
        self.peer: Any = None
        self.cancel_scope: anyio.CancelScope | None = None
        self.shutdown_requested: anyio.Event | None = None

    def _set_end(self, exc: BaseException) -> None:
        super()._set_end(exc)
        # reset by the client or connection lost: the handler's work is moot
        if self.local_closed and self.cancel_scope is not None:
            self.cancel_scope.cancel()

    @property
    def ended(self) -> bool:
        """True once the response is complete (or can no longer be sent)."""
        return self.local_closed or self._end is not None

    def send_initial_metadata(self, metadata: MetadataLike) -> None:
        """Send response headers with ``metadata`` now (before any message).

        Raises :class:`HeaderListTooLarge` (nothing sent) above the client's
        SETTINGS_MAX_HEADER_LIST_SIZE or 1 MiB.
        """
        if self.response_headers is None:
            raise RuntimeError("response headers were already sent")
        md = metadata if isinstance(metadata, Metadata) else Metadata(metadata)
        headers = build_response_headers(self.head.subtype or None, md, self.send_encoding)
        size, limit = header_list_size(headers), self._header_limit()
        if size > limit:
            raise HeaderListTooLarge(
                f"response headers are {size} bytes (mostly metadata), above the client's "
                f"limit of {limit} bytes", size, limit)
        self.response_headers = None
        self.conn.h2.send_headers(self.stream_id, headers)
        self.conn.on_output()

    def end(
        self,
        code: StatusCode | int = StatusCode.OK,
        message: str = "",
        details: Any = (),
        metadata: MetadataLike | None = None,
    ) -> None:
        """Finish the response with a status (trailers). Later calls do nothing.

        Trailers the client would refuse (above its
        SETTINGS_MAX_HEADER_LIST_SIZE or 1 MiB: a huge message or trailing
        metadata) are replaced by INTERNAL saying so, as grpc-go does, so the
        call still ends with a status instead of breaking the connection.
        """
        if self.ended:
            return
        md = None if metadata is None else (
            metadata if isinstance(metadata, Metadata) else Metadata(metadata))
        trailers = build_trailers(code, message, details, md)
        size = header_list_size(trailers)
        if self.response_headers is not None:
            size += header_list_size(self.response_headers)
        limit = self._header_limit()
        if size > limit:
            trailers = build_trailers(StatusCode.INTERNAL, (
                f"the response's trailers ({size} bytes: status message, details and "
                f"metadata) exceed the client's header list limit of {limit} bytes"))
        self.queue_end(trailers)

    def _header_limit(self) -> int:
        peer = self.conn.h2.remote_settings.max_header_list_size
        return MAX_SEND_HEADER_LIST_SIZE if peer is None else min(peer, MAX_SEND_HEADER_LIST_SIZE)
