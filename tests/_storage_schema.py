"""The storage service of the Go captures, built in a private descriptor pool.

Package ``proto``, service ``Storage`` (see /work/shared/interop/README.md).
It lives in its own :class:`DescriptorPool`, so it never clashes with
generated code for the same names in the default pool.
"""

from __future__ import annotations

from functools import lru_cache

from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2, timestamp_pb2

from gorums_h2.pb import gorums_pb2

_F = descriptor_pb2.FieldDescriptorProto

# name -> [(field, number, type, message type name)]
_MESSAGES: dict[str, list[tuple[str, int, int, str]]] = {
    "ReadRequest": [("key", 1, _F.TYPE_STRING, "")],
    "ReadResponse": [("OK", 1, _F.TYPE_BOOL, ""), ("value", 2, _F.TYPE_STRING, ""),
                     ("time", 3, _F.TYPE_MESSAGE, ".google.protobuf.Timestamp")],
    "WriteRequest": [("key", 1, _F.TYPE_STRING, ""), ("value", 2, _F.TYPE_STRING, ""),
                     ("time", 3, _F.TYPE_MESSAGE, ".google.protobuf.Timestamp")],
    "WriteResponse": [("new", 1, _F.TYPE_BOOL, "")],
}

# method -> (request, response, gorums option or None)
METHODS: dict[str, tuple[str, str, str | None]] = {
    "ReadRPC": ("proto.ReadRequest", "proto.ReadResponse", None),
    "WriteRPC": ("proto.WriteRequest", "proto.WriteResponse", None),
    "ReadQC": ("proto.ReadRequest", "proto.ReadResponse", "quorumcall"),
    "WriteQC": ("proto.WriteRequest", "proto.WriteResponse", "quorumcall"),
    "WriteMulticast": ("proto.WriteRequest", "google.protobuf.Empty", "multicast"),
}


def storage_file() -> descriptor_pb2.FileDescriptorProto:
    """The FileDescriptorProto of storage.proto (proto3)."""
    fd = descriptor_pb2.FileDescriptorProto(
        name="gorums_h2_tests/storage.proto",
        package="proto",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto", "google/protobuf/empty.proto",
                    "gorums.proto"],
    )
    for name, fields in _MESSAGES.items():
        msg = fd.message_type.add(name=name)
        for field, number, ftype, type_name in fields:
            msg.field.add(name=field, json_name=field, number=number, type=ftype,  # type: ignore[arg-type]
                          label=_F.LABEL_OPTIONAL, type_name=type_name or None)
    svc = fd.service.add(name="Storage")
    for name, (req, resp, option) in METHODS.items():
        method = svc.method.add(name=name, input_type="." + req, output_type="." + resp)
        if option is not None:
            method.options.Extensions[getattr(gorums_pb2, option)] = True
    return fd


@lru_cache(maxsize=1)
def storage_pool() -> descriptor_pool.DescriptorPool:
    """A private pool holding storage.proto and its dependencies."""
    pool = descriptor_pool.DescriptorPool()
    for module in (descriptor_pb2, timestamp_pb2, empty_pb2, gorums_pb2):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    pool.Add(storage_file())
    return pool
