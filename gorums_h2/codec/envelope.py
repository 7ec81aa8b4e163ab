"""The gorums envelope: ``varint(len(md)) md varint(len(msg)) msg``.

``md`` is a serialized ``ordering.Metadata`` (seq number, method, status,
entries) and ``msg`` the serialized application message. Go Gorums v0.11
puts exactly this in every gRPC message of a NodeStream.

Encoding builds the ``Metadata`` bytes directly (field order 1, 2, 3, 4 and
proto3's omission of zero values, byte-identical to protobuf's own encoder)
so the per-message path needs no Metadata object; decoding parses them with
the protobuf runtime.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import DecodeError

from gorums_h2.pb import ordering_pb2, status_pb2

__all__ = [
    "EnvelopeError",
    "decode_full",
    "decode_metadata",
    "encode",
    "encode_entries",
    "encode_metadata",
    "encode_method_field",
    "encode_status_field",
    "encode_varint",
    "split",
]

Metadata = ordering_pb2.Metadata


class EnvelopeError(ValueError):
    """The bytes are not a well-formed gorums envelope.

    ``seq_no`` is set when the metadata could still be read (so a server can
    answer that request with an error), else None.
    """

    def __init__(self, message: str, seq_no: int | None = None, method: str = "") -> None:
        super().__init__(message)
        self.seq_no = seq_no
        self.method = method


_SMALL_VARINTS = [bytes([i]) for i in range(128)]


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128 varint."""
    if value < 128:
        return _SMALL_VARINTS[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Return (value, next position); EnvelopeError if truncated or too long."""
    result = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise EnvelopeError("truncated varint in gorums envelope")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise EnvelopeError("varint too long in gorums envelope")


def _length_delimited(field_tag: int, payload: bytes) -> bytes:
    return bytes((field_tag,)) + encode_varint(len(payload)) + payload


def encode_method_field(method: str) -> bytes:
    """Metadata field 2 (``method``); empty for an empty name (proto3)."""
    return _length_delimited(0x12, method.encode()) if method else b""


def encode_status_field(code: int, message: str = "", details: Iterable[object] = ()) -> bytes:
    """Metadata field 3 (``status``) from a code, message and Any details."""
    status = status_pb2.Status(code=int(code), message=message, details=details)  # type: ignore[arg-type]
    return _length_delimited(0x1A, status.SerializeToString())


def encode_entries(entries: Iterable[tuple[str, str]]) -> bytes:
    """Metadata field 4 (repeated ``entry``) for key/value pairs, in order."""
    out = []
    for key, value in entries:
        body = b""
        if key:
            body += _length_delimited(0x0A, key.encode())
        if value:
            body += _length_delimited(0x12, value.encode())
        out.append(_length_delimited(0x22, body))
    return b"".join(out)


def encode_metadata(
    seq_no: int, method_field: bytes, status_field: bytes = b"", entries: bytes = b""
) -> bytes:
    """Serialized ``ordering.Metadata`` from pre-encoded fields."""
    if seq_no:
        return b"\x08" + encode_varint(seq_no) + method_field + status_field + entries
    return method_field + status_field + entries


def encode(md: bytes, msg: bytes) -> bytes:
    """The envelope for serialized metadata ``md`` and message ``msg``."""
    return encode_varint(len(md)) + md + encode_varint(len(msg)) + msg


def split(body: bytes) -> tuple[bytes, bytes]:
    """Split an envelope into (metadata bytes, message bytes).

    Raises :class:`EnvelopeError` when a length runs past the end or bytes
    are left over.
    """
    # the common case inline (no call per varint): metadata below 128 bytes
    size = len(body)
    if size > 1 and body[0] < 0x80:
        md_end = body[0] + 1
        if md_end < size:
            msg_len = body[md_end]
            if msg_len < 0x80:
                msg_pos = md_end + 1
            else:
                msg_len, msg_pos = read_varint(body, md_end)
            if msg_pos + msg_len == size:
                return body[1:md_end], body[msg_pos:]
        # else: the general path below says what is wrong
    md_len, pos = read_varint(body, 0)
    md_end = pos + md_len
    if md_end > len(body):
        raise EnvelopeError(
            f"metadata length {md_len} exceeds envelope of {len(body)} bytes")
    msg_len, msg_pos = read_varint(body, md_end)
    msg_end = msg_pos + msg_len
    if msg_end != len(body):
        raise EnvelopeError(
            f"message length {msg_len} does not match the {len(body) - msg_pos} bytes left")
    return body[pos:md_end], body[msg_pos:msg_end]


def decode_metadata(md: bytes) -> ordering_pb2.Metadata:
    """Parse metadata bytes; EnvelopeError if they are not a Metadata message."""
    try:
        return Metadata.FromString(md)
    except DecodeError as exc:
        raise EnvelopeError(f"cannot parse gorums metadata: {exc}") from None


def decode_full(body: bytes) -> tuple[ordering_pb2.Metadata, bytes, bytes]:
    """Split and parse a v0.11 envelope: (Metadata, metadata bytes, message bytes).

    When the metadata parses but the message framing is broken, the raised
    :class:`EnvelopeError` carries the seq number and method.
    """
    try:
        md_bytes, msg = split(body)
    except EnvelopeError as exc:
        # the metadata may still be readable: report its seq number
        try:
            md_len, pos = read_varint(body, 0)
            if pos + md_len <= len(body):
                md = Metadata.FromString(body[pos : pos + md_len])
                exc.seq_no, exc.method = md.message_seq_no, md.method
        except (EnvelopeError, DecodeError):
            pass
        raise
    return decode_metadata(md_bytes), md_bytes, msg
