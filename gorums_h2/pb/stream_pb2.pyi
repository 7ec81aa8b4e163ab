from gorums_h2.pb import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Message(_message.Message):
    __slots__ = ("message_seq_no", "method", "status", "entry", "payload")
    MESSAGE_SEQ_NO_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    message_seq_no: int
    method: str
    status: _status_pb2.Status
    entry: _containers.RepeatedCompositeFieldContainer[MetadataEntry]
    payload: bytes
    def __init__(self, message_seq_no: _Optional[int] = ..., method: _Optional[str] = ..., status: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., entry: _Optional[_Iterable[_Union[MetadataEntry, _Mapping]]] = ..., payload: _Optional[bytes] = ...) -> None: ...

class MetadataEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
