"""The gorums codec: the NodeStream wires (protocol objects over a neutral
:class:`Envelope`), v0.11's envelope bytes, and method lookup.

The package exports what users need (docs/architecture.md lists why each);
the field-level encoders the runtime and tests use live in
:mod:`gorums_h2.codec.envelope` (``encode_metadata``, ``split`` ...).
"""

from gorums_h2.codec.envelope import (
    EnvelopeError,
    decode_full,
    encode,
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
from gorums_h2.codec.wires import ORDERING, STREAM, WIRES, WireLike, get_wire

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
    "encode",
    "get_wire",
    "lookup_method",
]
