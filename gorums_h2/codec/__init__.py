"""The gorums codec: the NodeStream wires (protocol objects over a neutral
:class:`Envelope`), v0.11's envelope bytes, and method lookup."""

from gorums_h2.codec.envelope import (
    EnvelopeError,
    decode_full,
    decode_metadata,
    encode,
    encode_entries,
    encode_metadata,
    encode_method_field,
    encode_status_field,
    encode_varint,
    split,
)
from gorums_h2.codec.methods import (
    CallType,
    CallTypeError,
    MethodInfo,
    UnknownMethodError,
    call_type_of,
    lookup_method,
)
from gorums_h2.codec.protocol import SERVER_CALL_BIT, Envelope, WireProtocol
from gorums_h2.codec.wires import ORDERING, STREAM, WIRES, WireLike, get_wire, get_wires

__all__ = [
    "ORDERING",
    "SERVER_CALL_BIT",
    "STREAM",
    "WIRES",
    "CallType",
    "CallTypeError",
    "Envelope",
    "EnvelopeError",
    "MethodInfo",
    "UnknownMethodError",
    "WireLike",
    "WireProtocol",
    "call_type_of",
    "decode_full",
    "decode_metadata",
    "encode",
    "encode_entries",
    "encode_metadata",
    "encode_method_field",
    "encode_status_field",
    "encode_varint",
    "get_wire",
    "get_wires",
    "lookup_method",
    "split",
]
