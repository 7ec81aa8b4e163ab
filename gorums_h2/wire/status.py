"""gRPC status codes and the status error.

:class:`StatusError` is the one exception type that carries a gRPC status
(code, message, details). Everything that ends a call unsuccessfully is a
``StatusError`` or a subclass with a more precise meaning (see
:mod:`gorums_h2.wire.errors`), so callers can always read ``.code``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING

# protobuf only where a status travels as google.rpc.Status (rare: details),
# so the sans-IO wire modules import without it (tests/test_imports.py)
if TYPE_CHECKING:
    from google.protobuf import any_pb2

    from gorums_h2.pb import status_pb2

__all__ = [
    "StatusCode",
    "StatusError",
    "decode_grpc_message",
    "decode_status_details",
    "encode_grpc_message",
    "encode_status_details",
    "escape_peer_text",
    "status_code_from_http",
]


class StatusCode(IntEnum):
    """The 17 gRPC status codes (names as in the gRPC specification)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @classmethod
    def parse(cls, value: int | str | bytes) -> StatusCode:
        """Return the code for a ``grpc-status`` value; unknown numbers map to UNKNOWN."""
        try:
            return cls(int(value))
        except ValueError:
            return cls.UNKNOWN


class StatusError(Exception):
    """A call ended with a non-OK gRPC status.

    ``code`` is a :class:`StatusCode`, ``message`` the human-readable text,
    ``details`` the ``google.protobuf.Any`` messages of ``google.rpc.Status``
    (sent in ``grpc-status-details-bin`` or in the gorums envelope).
    Subclasses with a fixed code accept the message alone: ``ConnectionBroken("reset")``.
    """

    default_code = StatusCode.UNKNOWN

    def __init__(
        self,
        code: StatusCode | int | str | None = None,
        message: str = "",
        details: Iterable[any_pb2.Any] = (),
    ) -> None:
        if isinstance(code, str):  # SubclassWithDefaultCode("message")
            message = code
            code = None
        self.code = StatusCode.parse(self.default_code if code is None else code)
        self.message = message
        self.details: tuple[any_pb2.Any, ...] = tuple(details)
        super().__init__(self.code, message)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}" if self.message else self.code.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusError):
            return NotImplemented
        return (self.code, self.message, self.details) == (other.code, other.message, other.details)

    __hash__ = Exception.__hash__

    def to_proto(self) -> status_pb2.Status:
        """Return this status as a ``google.rpc.Status`` message."""
        from gorums_h2.pb import status_pb2

        return status_pb2.Status(code=int(self.code), message=self.message, details=self.details)

    @classmethod
    def from_proto(cls, status: status_pb2.Status) -> StatusError:
        """Build a status error from a ``google.rpc.Status`` message a peer
        sent; its message is escaped (:func:`escape_peer_text`)."""
        return cls(StatusCode.parse(status.code), escape_peer_text(status.message),
                   status.details)


# --- text from peers, on its way to log lines and exception messages ---

MAX_PEER_TEXT = 1024
"""Characters of peer-provided text kept by :func:`escape_peer_text`."""

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(c: str) -> str:
    if c.isprintable():
        return c
    short = _SHORT_ESCAPES.get(c)
    if short is not None:
        return short
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def escape_peer_text(text: str, limit: int = MAX_PEER_TEXT) -> str:
    """``text`` from a peer, made safe for one log line or exception message.

    Every character that is not printable (C0 and C1 controls such as a
    newline or ESC, DEL, line and paragraph separators, bidirectional
    overrides, unassigned code points) becomes a Python-style escape
    (``\\n``, ``\\x1b``, ``\\u2028``), so a peer cannot forge log lines or
    hide text; printable text, including non-ASCII letters and backslashes,
    is kept. Text longer than ``limit`` characters is cut there and marked
    ``... (N chars)``. Never raises; linear in ``limit``.
    """
    total = len(text)
    if total > limit:
        text = text[:limit]
    if not text.isprintable():
        text = "".join(map(_escape_char, text))
    if total > limit:
        text += f"... ({total} chars)"
    return text


# --- grpc-message: percent-encoding of the UTF-8 bytes (gRPC PROTOCOL-HTTP2) ---

_UNRESERVED = frozenset(range(0x20, 0x7F)) - {ord("%")}


def encode_grpc_message(message: str) -> str:
    """Percent-encode ``message`` for the ``grpc-message`` header."""
    raw = message.encode("utf-8")
    if all(b in _UNRESERVED for b in raw):
        return message
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in raw)


def decode_grpc_message(value: str | bytes) -> str:
    """Decode a ``grpc-message`` header; malformed escapes are kept verbatim."""
    raw = value.encode("latin-1") if isinstance(value, str) else value
    if b"%" not in raw:
        return raw.decode("utf-8", "replace")
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == 0x25 and i + 2 < n and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex(two: bytes) -> bool:
    return len(two) == 2 and all(chr(b) in "0123456789abcdefABCDEF" for b in two)


# --- grpc-status-details-bin ---


def encode_status_details(code: int, message: str, details: Sequence[any_pb2.Any]) -> str:
    """Return the unpadded base64 ``grpc-status-details-bin`` value."""
    from gorums_h2.pb import status_pb2

    pb = status_pb2.Status(code=int(code), message=message, details=details)
    return base64.b64encode(pb.SerializeToString()).decode("ascii").rstrip("=")


def decode_status_details(value: str | bytes) -> status_pb2.Status | None:
    """Parse a ``grpc-status-details-bin`` value; None if it is not valid."""
    from google.protobuf.message import DecodeError

    from gorums_h2.pb import status_pb2

    raw = value.encode("ascii", "replace") if isinstance(value, str) else value
    try:
        data = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
        return status_pb2.Status.FromString(data)
    except (binascii.Error, DecodeError, ValueError):
        return None


_HTTP_TO_GRPC = {
    400: StatusCode.INTERNAL,
    401: StatusCode.UNAUTHENTICATED,
    403: StatusCode.PERMISSION_DENIED,
    404: StatusCode.UNIMPLEMENTED,
    429: StatusCode.UNAVAILABLE,
    502: StatusCode.UNAVAILABLE,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.UNAVAILABLE,
}


def status_code_from_http(http_status: int) -> StatusCode:
    """Map a non-200 HTTP status to a gRPC code (gRPC http-grpc-status-mapping)."""
    return _HTTP_TO_GRPC.get(http_status, StatusCode.UNKNOWN)
