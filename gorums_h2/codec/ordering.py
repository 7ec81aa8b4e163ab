"""Go Gorums v0.11's wire: ``/ordering.Gorums/NodeStream``, ``application/grpc+gorums``.

Every gRPC message is ``varint(len(md)) md varint(len(msg)) msg`` with ``md``
an ``ordering.Metadata`` (:mod:`gorums_h2.codec.envelope`). Replies echo the
request's metadata (seq, method and entries). Node IDs are FNV-1a 32 of the
resolved ``ip:port``.

Rules where Go v0.11 kills the whole stream and we answer in-band instead
(docs/interop.md, "Where we deliberately differ"): an unknown method gets
UNIMPLEMENTED, an undecodable payload INTERNAL, an undecodable envelope
INTERNAL when its seq number is readable (else it is dropped).
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from gorums_h2.codec.envelope import (
    EnvelopeError,
    encode,
    encode_entries,
    encode_metadata,
    encode_method_field,
    read_varint,
    split,
)
from gorums_h2.codec.protocol import Envelope, WireProtocol
from gorums_h2.pb import ordering_pb2
from gorums_h2.wire.status import StatusCode, StatusError

__all__ = ["CONTENT_SUBTYPE", "OrderingWire"]

CONTENT_SUBTYPE = "gorums"
"""The gRPC content subtype of v0.11's NodeStream (``application/grpc+gorums``,
Go's ``ContentSubtype``); Go Gorums master's ``stream`` wire uses plain
``application/grpc``."""

_parse = ordering_pb2.Metadata.FromString
_from_proto = StatusError.from_proto


class OrderingWire(WireProtocol):
    """The ``ordering`` wire of Go Gorums v0.11 (module doc)."""

    name = "ordering"
    go_version = "Go Gorums v0.11"
    path = "/ordering.Gorums/NodeStream"
    subtype = CONTENT_SUBTYPE
    accepted_subtypes = frozenset({CONTENT_SUBTYPE})
    echoes_entries = True
    sequential_node_ids = False
    back_channel_header = None

    frame = staticmethod(encode)  # type: ignore[assignment]

    def decode(self, body: bytes) -> Envelope:
        try:
            md_bytes, payload = split(body)
            md = _parse(md_bytes)
        except (EnvelopeError, DecodeError) as exc:
            raise _envelope_error(body, exc) from None
        return Envelope(md.message_seq_no, md.method, payload,
                       _from_proto(md.status) if md.HasField("status") and md.status.code
                       else None, parsed=md, raw_metadata=md_bytes)

    def encode_reply(self, request: Envelope, payload: bytes) -> bytes:
        md = request.raw_metadata
        if md is None:
            entries = request.entries
            md = encode_metadata(request.seq, encode_method_field(request.method), b"",
                                 encode_entries(entries) if entries else b"")
        return encode(md, payload)

    def unknown_method(self, method: str) -> StatusError:
        return StatusError(StatusCode.UNIMPLEMENTED, f"unknown method {method}")

    def bad_payload(self, method: str, type_name: str, exc: Exception) -> StatusError:
        return StatusError(StatusCode.INTERNAL,
                           f"cannot decode {type_name} request for {method}: {exc}")

    def undecodable(self, exc: EnvelopeError) -> StatusError | None:
        return None  # in-band INTERNAL for a readable seq number; else dropped


def _envelope_error(body: bytes, exc: Exception) -> EnvelopeError:
    """An EnvelopeError carrying the seq number and method if the metadata parses."""
    err = exc if isinstance(exc, EnvelopeError) else EnvelopeError(
        f"cannot parse gorums metadata: {exc}")
    try:
        md_len, pos = read_varint(body, 0)
        if pos + md_len <= len(body):
            md = _parse(body[pos : pos + md_len])
            err.seq_no, err.method = md.message_seq_no, md.method
    except (EnvelopeError, DecodeError):
        pass
    return err
