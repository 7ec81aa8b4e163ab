"""The wire layer's exceptions, each with one precise meaning.

Every failure of a call is a :class:`~gorums_h2.wire.status.StatusError`
(so it has a gRPC ``code``); the subclasses say *why*:

======================  ==================  =====================================================
exception               code                meaning
======================  ==================  =====================================================
``ConnectionBroken``    UNAVAILABLE         the transport failed: the peer went away, reset the
                                            socket, violated HTTP/2, or missed a keepalive. Sticky:
                                            every waiter on the connection gets the same instance.
``ConnectionClosed``    CANCELLED           this side closed the connection (``aclose``) and the
                                            operation came after, or was waiting during, the close.
``GoAwayError``         UNAVAILABLE         the peer is shutting down (GOAWAY): a new stream was
                                            refused, or it ended a stream it had not processed.
``StreamReset``         mapped from h2      the peer reset this stream (RST_STREAM); ``h2_code``
                                            holds the HTTP/2 error code. Only the peer's resets.
``StreamClosed``        CANCELLED           this side closed the stream (``cancel()``, a local
                                            reset, or its end was already sent) and the operation
                                            came after, or was waiting during, the close.
``ProtocolViolation``   INTERNAL            the peer sent something gRPC forbids on this stream
                                            (bad content-type, compressed flag without encoding,
                                            a stream that ended without trailers).
``MessageTooLarge``     RESOURCE_EXHAUSTED  a message exceeded the configured maximum size.
``HeaderListTooLarge``  RESOURCE_EXHAUSTED  (a ``MessageTooLarge``) headers to send (metadata)
                                            exceed the peer's SETTINGS_MAX_HEADER_LIST_SIZE or
                                            our own cap; nothing was sent.
======================  ==================  =====================================================

:class:`EndOfStream` is not an error status: it tells a reader that the peer
finished sending cleanly (half-close on the server, status OK on the client).
"""

from __future__ import annotations

from typing import TypeVar

from h2.errors import ErrorCodes

from gorums_h2.wire.status import StatusCode, StatusError

__all__ = [
    "ConnectionBroken",
    "ConnectionClosed",
    "EndOfStream",
    "GoAwayError",
    "HeaderListTooLarge",
    "MessageTooLarge",
    "ProtocolViolation",
    "StreamClosed",
    "StreamReset",
    "WireError",
]


_E = TypeVar("_E", bound=BaseException)


def reraisable(exc: _E) -> _E:
    """``exc`` with its traceback cleared, to be raised once more.

    A stored error (a connection's sticky error, a node's last error, a
    future's failure) raised by every caller that meets it would otherwise
    keep each raise's frames: Python adds a raise's frames to the traceback
    the exception already carries, so a node that is down for a minute under
    thousands of calls per second grew one traceback by millions of entries,
    holding every frame (and its locals) alive. Cleared, each raise shows the
    frames of that raise only.
    """
    return exc.with_traceback(None)


class WireError(Exception):
    """Base of the wire layer's non-status exceptions."""


class EndOfStream(WireError):
    """The peer finished sending on this stream; there are no more messages."""


class ConnectionBroken(StatusError):
    """The connection failed underneath the stream (status UNAVAILABLE)."""

    default_code = StatusCode.UNAVAILABLE


class ConnectionClosed(StatusError):
    """This side closed the connection (status CANCELLED)."""

    default_code = StatusCode.CANCELLED


class GoAwayError(StatusError):
    """The peer is shutting down and did not (or will not) process this stream.

    ``h2_code`` is the GOAWAY's HTTP/2 error code (NO_ERROR for a graceful
    shutdown) and ``last_stream_id`` the last stream the peer processes.
    """

    default_code = StatusCode.UNAVAILABLE

    def __init__(self, message: str = "", h2_code: int = 0, last_stream_id: int = 0) -> None:
        super().__init__(None, message)
        self.h2_code = h2_code
        self.last_stream_id = last_stream_id


_RST_TO_STATUS = {
    ErrorCodes.REFUSED_STREAM: StatusCode.UNAVAILABLE,
    ErrorCodes.CANCEL: StatusCode.CANCELLED,
    ErrorCodes.ENHANCE_YOUR_CALM: StatusCode.RESOURCE_EXHAUSTED,
    ErrorCodes.INADEQUATE_SECURITY: StatusCode.PERMISSION_DENIED,
}


class StreamReset(StatusError):
    """The peer reset the stream with RST_STREAM ``h2_code``.

    The gRPC code follows the specification's mapping: CANCEL -> CANCELLED,
    REFUSED_STREAM -> UNAVAILABLE, ENHANCE_YOUR_CALM -> RESOURCE_EXHAUSTED,
    INADEQUATE_SECURITY -> PERMISSION_DENIED, anything else -> INTERNAL.
    """

    def __init__(self, h2_code: int, message: str = "") -> None:
        try:
            name = ErrorCodes(h2_code).name
        except ValueError:
            name = str(h2_code)
        code = _RST_TO_STATUS.get(h2_code, StatusCode.INTERNAL)  # type: ignore[call-overload]
        super().__init__(code, message or f"stream reset by peer ({name})")
        self.h2_code = h2_code


class StreamClosed(StatusError):
    """This side closed the stream (status CANCELLED): a local reset or
    ``cancel()``, or sending after our end of the stream was sent."""

    default_code = StatusCode.CANCELLED


class ProtocolViolation(StatusError):
    """The peer broke the gRPC protocol on this stream (status INTERNAL)."""

    default_code = StatusCode.INTERNAL


class MessageTooLarge(StatusError):
    """A message was larger than allowed (status RESOURCE_EXHAUSTED)."""

    default_code = StatusCode.RESOURCE_EXHAUSTED


class HeaderListTooLarge(MessageTooLarge):
    """Headers to send (stream or call metadata) are larger than the peer
    accepts or than our own cap; refused before encoding (RESOURCE_EXHAUSTED).

    ``size`` is their RFC 9113 size (name + value + 32 per field), ``limit``
    the limit they exceed.
    """

    def __init__(self, message: str = "", size: int = 0, limit: int = 0) -> None:
        super().__init__(None, message)
        self.size = size
        self.limit = limit
