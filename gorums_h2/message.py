"""Message: one gorums request or reply (envelope + protobuf message).

What handlers and interceptors see on the server side (Go's ``Message``),
and what the generated code builds with :func:`new_request_message` and
:func:`new_response_message`. The envelope is wire-neutral
(:class:`~gorums_h2.codec.Envelope`): the same handler serves both wires.
"""

from __future__ import annotations

import warnings
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message as ProtoMessage

from gorums_h2.codec.protocol import Envelope
from gorums_h2.errors import TypeMismatchError
from gorums_h2.wire.status import StatusError

__all__ = ["Message", "as_proto", "new_request_message", "new_response_message"]

T = TypeVar("T", bound=ProtoMessage)
M = TypeVar("M", bound=ProtoMessage)


class Message(Generic[T]):
    """A gorums message: ``metadata`` (the :class:`~gorums_h2.codec.Envelope`:
    seq number, method, entries, status) and ``msg``.

    ``msg`` is None for a reply that carries only a status. A reply built
    from a request shares the request's envelope, so the wire can echo what
    it must (v0.11 repeats the request's metadata bytes).
    """

    __slots__ = ("envelope", "msg")

    def __init__(self, envelope: Envelope, msg: T | None) -> None:
        self.envelope = envelope
        self.msg = msg

    @property
    def metadata(self) -> Envelope:
        """The envelope (Go's ``Metadata``); ``metadata.entries`` may be changed."""
        return self.envelope

    @metadata.setter
    def metadata(self, value: Envelope) -> None:
        self.envelope = value

    @property
    def seq_no(self) -> int:
        return self.envelope.seq

    @property
    def method(self) -> str:
        return self.envelope.method

    @property
    def entries(self) -> list[tuple[str, str]]:
        """The per-call metadata entries, in order."""
        return self.envelope.entries

    @property
    def status(self) -> StatusError | None:
        """The status carried by a reply (None for success)."""
        return self.envelope.status

    # Go's accessor names: deprecated (docs/go-names.md maps them)
    def get_message_id(self) -> int:
        """Deprecated Go spelling (``GetMessageID()``) of :attr:`seq_no`."""
        _deprecated("get_message_id()", "seq_no")
        return self.seq_no

    def get_method(self) -> str:
        """Deprecated Go spelling (``GetMethod()``) of :attr:`method`."""
        _deprecated("get_method()", "method")
        return self.method

    def get_metadata(self) -> Envelope:
        """Deprecated Go spelling (``GetMetadata()``) of :attr:`metadata`."""
        _deprecated("get_metadata()", "metadata")
        return self.envelope

    def get_proto_message(self) -> T | None:
        """Deprecated Go spelling (``GetProtoMessage()``) of :attr:`msg`."""
        _deprecated("get_proto_message()", "msg")
        return self.msg

    def __repr__(self) -> str:
        return f"Message(seq={self.seq_no}, method={self.method!r}, msg={self.msg!r})"


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"Message.{old} is deprecated: use message.{new}", DeprecationWarning,
                  stacklevel=3)


def new_request_message(metadata: Envelope, req: T) -> Message[T]:
    """A request message (Go's ``NewRequestMessage``)."""
    return Message(metadata, req)


def new_response_message(request: Message[Any], resp: M | None) -> Message[M]:
    """A reply to ``request``: same seq number and method (and entries, on
    the wire that echoes them)."""
    return Message(request.envelope, resp)


def as_proto(msg: Message[Any] | None, message_type: type[M]) -> M:
    """The protobuf message inside ``msg`` as ``message_type`` (Go's ``AsProto``).

    Raises :class:`TypeMismatchError` if it holds another type; returns an
    empty ``message_type()`` for None or an empty message (as Go's zero value).
    """
    if msg is None or msg.msg is None:
        return message_type()
    if not isinstance(msg.msg, message_type):
        raise TypeMismatchError(
            f"message is {type(msg.msg).__name__}, not {message_type.__name__}")
    return msg.msg
