from gorums_h2.pb import gorums_pb2 as _gorums_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Echo(_message.Message):
    __slots__ = ("value", "num", "node_id", "payload", "delay_ms")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NUM_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    value: str
    num: int
    node_id: int
    payload: bytes
    delay_ms: int
    def __init__(self, value: _Optional[str] = ..., num: _Optional[int] = ..., node_id: _Optional[int] = ..., payload: _Optional[bytes] = ..., delay_ms: _Optional[int] = ...) -> None: ...
