from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
RPC_FIELD_NUMBER: _ClassVar[int]
rpc: _descriptor.FieldDescriptor
UNICAST_FIELD_NUMBER: _ClassVar[int]
unicast: _descriptor.FieldDescriptor
MULTICAST_FIELD_NUMBER: _ClassVar[int]
multicast: _descriptor.FieldDescriptor
QUORUMCALL_FIELD_NUMBER: _ClassVar[int]
quorumcall: _descriptor.FieldDescriptor
