from google.protobuf import empty_pb2 as _empty_pb2
import gorums_pb2 as _gorums_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Echo(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    def __init__(self, payload: _Optional[bytes] = ...) -> None: ...

class TimedMsg(_message.Message):
    __slots__ = ("send_time", "payload")
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    send_time: int
    payload: bytes
    def __init__(self, send_time: _Optional[int] = ..., payload: _Optional[bytes] = ...) -> None: ...

class StartRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StartResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StopRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Result(_message.Message):
    __slots__ = ("name", "total_ops", "total_time", "throughput", "latency_avg", "latency_var", "allocs_per_op", "mem_per_op", "server_stats")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_OPS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TIME_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_AVG_FIELD_NUMBER: _ClassVar[int]
    LATENCY_VAR_FIELD_NUMBER: _ClassVar[int]
    ALLOCS_PER_OP_FIELD_NUMBER: _ClassVar[int]
    MEM_PER_OP_FIELD_NUMBER: _ClassVar[int]
    SERVER_STATS_FIELD_NUMBER: _ClassVar[int]
    name: str
    total_ops: int
    total_time: int
    throughput: float
    latency_avg: float
    latency_var: float
    allocs_per_op: int
    mem_per_op: int
    server_stats: _containers.RepeatedCompositeFieldContainer[MemoryStat]
    def __init__(self, name: _Optional[str] = ..., total_ops: _Optional[int] = ..., total_time: _Optional[int] = ..., throughput: _Optional[float] = ..., latency_avg: _Optional[float] = ..., latency_var: _Optional[float] = ..., allocs_per_op: _Optional[int] = ..., mem_per_op: _Optional[int] = ..., server_stats: _Optional[_Iterable[_Union[MemoryStat, _Mapping]]] = ...) -> None: ...

class MemoryStat(_message.Message):
    __slots__ = ("allocs", "memory")
    ALLOCS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    allocs: int
    memory: int
    def __init__(self, allocs: _Optional[int] = ..., memory: _Optional[int] = ...) -> None: ...
