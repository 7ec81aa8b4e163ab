"""Method name -> message classes, through the protobuf descriptor pool.

A gorums envelope names its method by full protobuf name
(``proto.Storage.ReadQC``); the receiver finds the request and response
classes from the method's descriptor. Lookups are cached per name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from gorums_h2._calltype import OPTIONS, CallType, CallTypeError, classify
from gorums_h2.codec.envelope import encode_method_field
from gorums_h2.pb import gorums_pb2

__all__ = ["CallType", "CallTypeError", "MethodInfo", "UnknownMethodError", "call_type_of",
           "lookup_method"]


class UnknownMethodError(LookupError):
    """No method of that name is in the descriptor pool (``.method`` names it)."""

    def __init__(self, method: str, reason: str = "") -> None:
        self.method = method
        super().__init__(
            reason or f"unknown method {method!r}: not in the protobuf descriptor pool")


def call_type_of(method: MethodDescriptor) -> CallType:
    """The call type a method's options select (the table the code generator
    shares, :mod:`gorums_h2._calltype`).

    Raises :class:`CallTypeError` for two call-type options, client streaming,
    or server streaming without ``gorums.quorumcall``.
    """
    opts = method.GetOptions()
    chosen = [name for name in OPTIONS if opts.Extensions[getattr(gorums_pb2, name)]]
    try:
        return classify(chosen, client_streaming=method.client_streaming,
                        server_streaming=method.server_streaming)
    except CallTypeError as exc:
        raise CallTypeError(f"{method.full_name}: {exc}") from None


@dataclass(frozen=True, slots=True)
class MethodInfo:
    """What the runtime needs to encode and decode one method's messages."""

    name: str
    request_type: type[Message]
    response_type: type[Message]
    call_type: CallType
    method_field: bytes = field(repr=False)

    @property
    def one_way(self) -> bool:
        return self.call_type.one_way


@lru_cache(maxsize=4096)
def _lookup(name: str, pool: descriptor_pool.DescriptorPool) -> MethodInfo:
    try:
        desc = pool.FindMethodByName(name)
    except KeyError:
        raise UnknownMethodError(name) from None
    try:
        call_type = call_type_of(desc)
    except CallTypeError:
        call_type = CallType.RPC
    return MethodInfo(
        name=name,
        request_type=message_factory.GetMessageClass(desc.input_type),
        response_type=message_factory.GetMessageClass(desc.output_type),
        call_type=call_type,
        method_field=encode_method_field(name),
    )


def lookup_method(name: str, pool: descriptor_pool.DescriptorPool | None = None) -> MethodInfo:
    """Return the :class:`MethodInfo` of ``name`` (e.g. ``proto.Storage.ReadQC``).

    Raises :class:`UnknownMethodError` if the pool has no such method. Results
    are cached; a method added to the pool later is found on the next call.
    """
    if not name:
        raise UnknownMethodError(name, "empty method name")
    return _lookup(name, pool or descriptor_pool.Default())
