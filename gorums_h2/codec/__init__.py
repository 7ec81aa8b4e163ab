"""The gorums codec: the envelope around every NodeStream message, and method lookup."""

from gorums_h2.codec.envelope import (
    EnvelopeError,
    decode,
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

__all__ = [
    "CallType",
    "CallTypeError",
    "EnvelopeError",
    "MethodInfo",
    "UnknownMethodError",
    "call_type_of",
    "decode",
    "decode_full",
    "decode_metadata",
    "encode",
    "encode_entries",
    "encode_metadata",
    "encode_method_field",
    "encode_status_field",
    "encode_varint",
    "lookup_method",
    "split",
]
