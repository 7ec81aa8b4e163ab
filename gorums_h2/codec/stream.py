"""Go Gorums master's wire: ``/stream.Gorums/NodeStream``, plain ``application/grpc``.

Every gRPC message is one protobuf ``stream.Message`` (seq, method, status,
entries in fields 1-4 as in v0.11's Metadata; the request or reply bytes in
field 5, omitted when empty). Rules, as master (commit 3241d25b,
/work/shared/interop/go-main-wire.md):

* replies carry seq and method, never entries; a status reply has no payload;
* an unknown method gets an in-band UNIMPLEMENTED (code 12) "no handler
  registered for method M", an undecodable payload an in-band UNKNOWN (code 2)
  "gorums: could not unmarshal request: …"; the stream stays open;
* a gRPC message that is not a ``stream.Message`` ends the NodeStream with
  INTERNAL "grpc: failed to unmarshal the received message: …";
* node IDs of ``with_node_list`` are 1, 2, 3 … in list order;
* message IDs with bit 63 set are server-initiated calls; they are only split
  from client requests on streams whose client sent ``gorums-node-id``.
"""

from __future__ import annotations

from functools import lru_cache

from google.protobuf.message import DecodeError

from gorums_h2.codec.envelope import (
    EnvelopeError,
    encode_metadata,
    encode_method_field,
    encode_varint,
)
from gorums_h2.codec.protocol import SERVER_CALL_BIT, Envelope, WireProtocol
from gorums_h2.pb import stream_pb2
from gorums_h2.wire.status import StatusCode, StatusError

__all__ = ["StreamWire"]

_parse = stream_pb2.Message.FromString
_from_proto = StatusError.from_proto
_method_field = lru_cache(maxsize=4096)(encode_method_field)


def _frame(header: bytes, payload: bytes) -> bytes:
    if payload:
        return header + b"\x2a" + encode_varint(len(payload)) + payload
    return header


class StreamWire(WireProtocol):
    """The ``stream`` wire of Go Gorums master (module doc)."""

    name = "stream"
    go_version = "Go Gorums master (after v0.11)"
    path = "/stream.Gorums/NodeStream"
    subtype = None
    # grpc-go falls back to its proto codec for any subtype; master's server
    # serves ``+gorums`` too (probe 5 of go-main-server-probes)
    accepted_subtypes = frozenset({"", "proto", "gorums"})
    echoes_entries = False
    sequential_node_ids = True
    back_channel_header = "gorums-node-id"

    frame = staticmethod(_frame)

    def decode(self, body: bytes) -> Envelope:
        try:
            msg = _parse(body)
        except DecodeError as exc:
            raise EnvelopeError(f"not a stream.Message: {exc}") from None
        env = Envelope(msg.message_seq_no, msg.method, msg.payload,
                       _from_proto(msg.status) if msg.HasField("status") and msg.status.code
                       else None, parsed=msg)
        return env

    def encode_reply(self, request: Envelope, payload: bytes) -> bytes:
        return _frame(encode_metadata(request.seq, _method_field(request.method)), payload)

    def unknown_method(self, method: str) -> StatusError:
        return StatusError(StatusCode.UNIMPLEMENTED, f"no handler registered for method {method}")

    def bad_payload(self, method: str, type_name: str, exc: Exception) -> StatusError:
        return StatusError(StatusCode.UNKNOWN, f"gorums: could not unmarshal request: {exc}")

    def undecodable(self, exc: EnvelopeError) -> StatusError | None:
        return StatusError(StatusCode.INTERNAL,
                           f"grpc: failed to unmarshal the received message: {exc}")

    def is_server_call_id(self, seq: int) -> bool:
        return bool(seq & SERVER_CALL_BIT)
