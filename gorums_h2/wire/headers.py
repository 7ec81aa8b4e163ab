"""gRPC-over-HTTP/2 header blocks: building, validating, parsing (sans-IO).

All functions work on lists of ``(bytes, bytes)`` pairs as h2 produces and
accepts them. Validation failures raise :class:`HeaderError`, which carries
both the HTTP status and the gRPC status a server should answer with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpack.struct import NeverIndexedHeaderTuple

from gorums_h2._version import __version__
from gorums_h2.wire.errors import ProtocolViolation
from gorums_h2.wire.framing import ACCEPT_ENCODING
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.status import (
    StatusCode,
    StatusError,
    decode_grpc_message,
    decode_status_details,
    encode_grpc_message,
    encode_status_details,
    escape_peer_text,
    status_code_from_http,
)

if TYPE_CHECKING:
    from google.protobuf import any_pb2

__all__ = [
    "BULK_HEADERS",
    "USER_AGENT",
    "HeaderError",
    "Headers",
    "RequestHead",
    "build_request_headers",
    "build_response_headers",
    "build_trailers",
    "content_type",
    "encode_timeout",
    "parse_response_headers",
    "parse_timeout",
    "parse_trailers",
    "prepare_bulk_headers",
    "validate_request_headers",
]

Headers = list[tuple[bytes, bytes]]

USER_AGENT = f"gorums-h2/{__version__}"

# Request headers that are protocol, not custom metadata. grpc-go still shows
# :authority, content-type and user-agent to handlers, so those stay visible.
_REQUEST_SKIP = frozenset(
    {b":method", b":scheme", b":path", b"te", b"grpc-timeout", b"grpc-encoding",
     b"grpc-accept-encoding", b"grpc-message-type"}
)
_RESPONSE_SKIP = frozenset(
    {b":status", b"content-type", b"grpc-status", b"grpc-message", b"grpc-status-details-bin",
     b"grpc-encoding", b"grpc-accept-encoding"}
)


class HeaderError(Exception):
    """A request head that a gRPC server must refuse.

    ``http_status`` is 200 for errors answered with a gRPC status (trailers-only
    response with ``grpc_status``); anything else is answered at the HTTP level.
    """

    def __init__(self, message: str, grpc_status: StatusCode, http_status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.grpc_status = grpc_status
        self.http_status = http_status


def content_type(subtype: str | None) -> bytes:
    """``application/grpc`` or ``application/grpc+<subtype>``."""
    return b"application/grpc+" + subtype.encode() if subtype else b"application/grpc"


def _parse_content_type(value: bytes) -> str | None:
    """Return the subtype ('' for plain) or None if this is not gRPC."""
    value = value.split(b";", 1)[0].strip().lower()
    if value == b"application/grpc":
        return ""
    if value.startswith(b"application/grpc+"):
        return value[len(b"application/grpc+") :].decode("ascii", "replace")
    if value.startswith(b"application/grpc;"):
        return ""
    return None


# --- grpc-timeout ---

_UNITS = ((b"n", 1e-9), (b"u", 1e-6), (b"m", 1e-3), (b"S", 1.0), (b"M", 60.0), (b"H", 3600.0))
_UNIT_SECONDS = dict(_UNITS)


def encode_timeout(seconds: float) -> bytes:
    """Encode a timeout as at most 8 digits and a unit, rounding up."""
    if seconds <= 0:
        return b"1n"
    for unit, scale in _UNITS:
        value = math.ceil(seconds / scale - 1e-9)
        if value < 100_000_000:
            return str(max(value, 1)).encode() + unit
    return b"99999999H"


def parse_timeout(value: bytes) -> float:
    """Decode a ``grpc-timeout`` value to seconds; ValueError if malformed."""
    digits, unit = value[:-1], value[-1:]
    if not (1 <= len(digits) <= 8) or not digits.isdigit() or unit not in _UNIT_SECONDS:
        raise ValueError(f"malformed grpc-timeout {value!r}")
    return int(digits) * _UNIT_SECONDS[unit]


# --- requests ---


def build_request_headers(
    path: str,
    authority: str,
    *,
    scheme: str = "http",
    subtype: str | None = None,
    timeout: float | None = None,
    metadata: Metadata | None = None,
    user_agent: str = USER_AGENT,
    encoding: str | None = None,
) -> Headers:
    """The HEADERS of a gRPC request, in grpc-go's order, custom metadata last.

    With an ``encoding`` (messages compressed with it) come ``grpc-encoding``
    and our ``grpc-accept-encoding``; without, neither (as grpc-go without
    registered compressors, so the bytes of Go's captures are kept).
    """
    headers = [
        (b":method", b"POST"),
        (b":scheme", scheme.encode()),
        (b":path", path.encode()),
        (b":authority", authority.encode()),
        (b"content-type", content_type(subtype)),
        (b"user-agent", user_agent.encode()),
        (b"te", b"trailers"),
    ]
    if encoding is not None:
        headers.append((b"grpc-encoding", encoding.encode()))
        headers.append((b"grpc-accept-encoding", ACCEPT_ENCODING.encode()))
    if timeout is not None:
        headers.append((b"grpc-timeout", encode_timeout(timeout)))
    if metadata:
        metadata.validate_for_send()
        headers.extend(metadata.to_headers())
    return headers


BULK_HEADERS = 64
"""Header lists longer than this skip h2's per-field checks (see
:func:`prepare_bulk_headers`): they cost about 5 us a field, 80 ms for 16,384
metadata values."""

_CREDENTIALS = frozenset({b"authorization", b"proxy-authorization"})


def prepare_bulk_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    """In one pass, what h2's outbound normalization does to a header list
    built by :func:`build_request_headers` (pseudo-headers first, metadata
    keys checked by :class:`Metadata`: lower-case, no connection-specific
    names; values printable ASCII): values stripped of surrounding blanks
    (RFC 9113, 8.2.1), and credentials (and short cookies) never indexed by
    HPACK (RFC 7541, 7.1.3), as h2 does. The caller then sends it with h2's
    own per-field normalization and validation switched off."""
    out: list[tuple[bytes, bytes]] = []
    append = out.append
    for name, value in headers:
        value = value.strip(b" \t")
        if name in _CREDENTIALS or (name == b"cookie" and len(value) < 20):
            append(NeverIndexedHeaderTuple(name, value))
        else:
            append((name, value))
    return out


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A validated gRPC request head."""

    path: str
    authority: str
    subtype: str
    timeout: float | None
    encoding: str | None
    metadata: Metadata
    accept_encoding: frozenset[str] = frozenset()  # grpc-accept-encoding, lower-cased


def validate_request_headers(headers: Sequence[tuple[bytes, bytes]]) -> RequestHead:
    """Check a received request head and extract what a server needs.

    Raises :class:`HeaderError`: 415 for a content-type that is not gRPC,
    405 for a method other than POST, a gRPC INTERNAL status for a malformed
    ``grpc-timeout``; a missing ``te: trailers`` is tolerated (as grpc-go does).
    """
    fields: dict[bytes, bytes] = {}
    for key, value in headers:
        fields.setdefault(key, value)
    method = fields.get(b":method", b"")
    if method != b"POST":
        raise HeaderError(f"method {method.decode(errors='replace')!r} not allowed",
                          StatusCode.INTERNAL, 405)
    ctype = fields.get(b"content-type")
    subtype = _parse_content_type(ctype) if ctype is not None else None
    if subtype is None:
        shown = escape_peer_text(ctype.decode(errors="replace"), 100) if ctype else "none"
        raise HeaderError(f"invalid gRPC request content-type {shown!r}",
                          StatusCode.INTERNAL, 415)
    timeout = None
    raw_timeout = fields.get(b"grpc-timeout")
    if raw_timeout is not None:
        try:
            timeout = parse_timeout(raw_timeout)
        except ValueError as exc:
            raise HeaderError(str(exc), StatusCode.INTERNAL) from None
    encoding = fields.get(b"grpc-encoding")
    accept = fields.get(b"grpc-accept-encoding")
    return RequestHead(
        path=fields.get(b":path", b"").decode("utf-8", "replace"),
        authority=fields.get(b":authority", b"").decode("utf-8", "replace"),
        subtype=subtype,
        timeout=timeout,
        encoding=encoding.decode("ascii", "replace") if encoding else None,
        metadata=Metadata.from_headers(headers, _REQUEST_SKIP),
        accept_encoding=frozenset(
            e.strip() for e in accept.decode("ascii", "replace").lower().split(",")
        ) if accept else frozenset(),
    )


# --- responses ---


def build_response_headers(subtype: str | None, metadata: Metadata | None = None,
                           encoding: str | None = None) -> Headers:
    """The first HEADERS of a response (``:status 200``, content-type, and
    ``grpc-encoding`` when the messages are compressed with ``encoding``)."""
    headers = [(b":status", b"200"), (b"content-type", content_type(subtype))]
    if encoding is not None:
        headers.append((b"grpc-encoding", encoding.encode()))
    if metadata:
        metadata.validate_for_send()
        headers.extend(metadata.to_headers())
    return headers


def build_trailers(
    code: StatusCode | int,
    message: str = "",
    details: Sequence[any_pb2.Any] = (),
    metadata: Metadata | None = None,
) -> Headers:
    """Trailers carrying a status (prepend response headers for trailers-only)."""
    trailers = [(b"grpc-status", str(int(code)).encode())]
    if message:
        trailers.append((b"grpc-message", encode_grpc_message(message).encode("ascii")))
    if details:
        trailers.append(
            (b"grpc-status-details-bin", encode_status_details(code, message, details).encode())
        )
    if metadata:
        metadata.validate_for_send()
        trailers.extend(metadata.to_headers())
    return trailers


def parse_response_headers(headers: Sequence[tuple[bytes, bytes]]) -> tuple[Metadata, str | None]:
    """Validate the first response HEADERS; return (metadata, grpc-encoding).

    A non-200 ``:status`` raises :class:`StatusError` with the mapped code; a
    content-type that is not gRPC raises :class:`ProtocolViolation`. (For a
    trailers-only response, call :func:`parse_trailers` on the same block.)
    """
    status = b""
    ctype = None
    encoding = None
    for key, value in headers:
        if key == b":status":
            status = value
        elif key == b"content-type":
            ctype = value
        elif key == b"grpc-encoding":
            encoding = value.decode("ascii", "replace")
    if status != b"200":
        try:
            http = int(status)
        except ValueError:
            http = 0
        raise StatusError(status_code_from_http(http), f"unexpected HTTP status {http}")
    if ctype is None or _parse_content_type(ctype) is None:
        shown = escape_peer_text(ctype.decode(errors="replace"), 100) if ctype else "none"
        raise ProtocolViolation(f"unexpected response content-type {shown!r}")
    return Metadata.from_headers(headers, _RESPONSE_SKIP), encoding


def parse_trailers(headers: Sequence[tuple[bytes, bytes]]) -> tuple[StatusError | None, Metadata]:
    """Return (status error or None for OK, trailing metadata).

    Missing ``grpc-status`` is a protocol violation (INTERNAL), unless a
    trailers-only block has a non-200 ``:status``, which is mapped to a code
    (gRPC's http-grpc-status-mapping). The message is percent-decoded, then
    escaped and bounded (:func:`~gorums_h2.wire.status.escape_peer_text`:
    a peer's ``%0A`` becomes the two characters ``\\n``);
    ``grpc-status-details-bin``, when valid, supplies details.
    """
    code: StatusCode | None = None
    message = ""
    details: Sequence[any_pb2.Any] = ()
    http_status = b"200"
    for key, value in headers:
        if key == b":status":
            http_status = value
        elif key == b"grpc-status":
            code = StatusCode.parse(value)
        elif key == b"grpc-message":
            message = escape_peer_text(decode_grpc_message(value))
        elif key == b"grpc-status-details-bin":
            status = decode_status_details(value)
            if status is not None:
                details = status.details
    md = Metadata.from_headers(headers, _RESPONSE_SKIP)
    if code is None:
        if http_status != b"200":  # an HTTP-level error (proxy, not a gRPC server)
            http = int(http_status) if http_status.isdigit() else 0
            return StatusError(status_code_from_http(http), f"unexpected HTTP status {http}"), md
        return ProtocolViolation("stream ended without grpc-status"), md
    if code == StatusCode.OK:
        return None, md
    return StatusError(code, message, details), md
