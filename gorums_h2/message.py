"""Message: one gorums request or reply (metadata + protobuf message).

What handlers and interceptors see on the server side (Go's ``Message``),
and what the generated code builds with :func:`new_request_message` and
:func:`new_response_message`.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from google.protobuf.message import Message as ProtoMessage

from gorums_h2.errors import TypeMismatchError
from gorums_h2.pb import ordering_pb2
from gorums_h2.wire.status import StatusError

__all__ = ["Message", "as_proto", "new_request_message", "new_response_message"]

T = TypeVar("T", bound=ProtoMessage)
M = TypeVar("M", bound=ProtoMessage)


class Message(Generic[T]):
    """A gorums message: ``metadata`` (``ordering.Metadata``) and ``msg``.

    ``msg`` is None for a reply that carries only a status. The serialized
    metadata of a received request is kept and reused for its replies (Go
    echoes it) unless the ``metadata`` attribute is touched.
    """

    __slots__ = ("_md", "_md_bytes", "msg")

    def __init__(self, metadata: ordering_pb2.Metadata, msg: T | None,
                 md_bytes: bytes | None = None) -> None:
        self._md = metadata
        self.msg = msg
        self._md_bytes = md_bytes

    @property
    def metadata(self) -> ordering_pb2.Metadata:
        """The metadata (handing it out forgets the cached bytes: it may be changed)."""
        self._md_bytes = None
        return self._md

    @metadata.setter
    def metadata(self, value: ordering_pb2.Metadata) -> None:
        self._md_bytes = None
        self._md = value

    @property
    def seq_no(self) -> int:
        return self._md.message_seq_no

    @property
    def method(self) -> str:
        return self._md.method

    @property
    def entries(self) -> list[tuple[str, str]]:
        """The per-call metadata entries, in order."""
        return [(e.key, e.value) for e in self._md.entry]

    @property
    def status(self) -> StatusError | None:
        """The status carried by a reply (None for success)."""
        status = self._md.status
        return StatusError.from_proto(status) if status.code else None

    # Go's accessor names, for readers porting code
    def get_message_id(self) -> int:
        return self.seq_no

    def get_method(self) -> str:
        return self.method

    def get_metadata(self) -> ordering_pb2.Metadata:
        return self.metadata

    def get_proto_message(self) -> T | None:
        return self.msg

    def metadata_bytes(self) -> bytes:
        """The serialized metadata (the received bytes when nothing changed)."""
        md_bytes = self._md_bytes
        if md_bytes is None:
            md_bytes = self._md_bytes = self._md.SerializeToString()
        return md_bytes

    def __repr__(self) -> str:
        return f"Message(seq={self.seq_no}, method={self.method!r}, msg={self.msg!r})"


def new_request_message(metadata: ordering_pb2.Metadata, req: T) -> Message[T]:
    """A request message (Go's ``NewRequestMessage``)."""
    return Message(metadata, req)


def new_response_message(request: Message[Any], resp: M | None) -> Message[M]:
    """A reply to ``request``: same seq number, method and entries (Go echoes them)."""
    return Message(request._md, resp, request._md_bytes)


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
