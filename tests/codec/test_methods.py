"""Method lookup and call types, on private descriptor pools."""

from __future__ import annotations

import pytest
from _storage_schema import storage_pool
from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2

from gorums_h2.codec import CallType, CallTypeError, UnknownMethodError, call_type_of, lookup_method
from gorums_h2.codec.envelope import encode_method_field
from gorums_h2.pb import gorums_pb2


@pytest.mark.parametrize(
    ("method", "call_type", "req", "resp"),
    [("ReadRPC", CallType.RPC, "ReadRequest", "ReadResponse"),
     ("WriteRPC", CallType.RPC, "WriteRequest", "WriteResponse"),
     ("ReadQC", CallType.QUORUMCALL, "ReadRequest", "ReadResponse"),
     ("WriteQC", CallType.QUORUMCALL, "WriteRequest", "WriteResponse"),
     ("WriteMulticast", CallType.MULTICAST, "WriteRequest", "Empty")],
)
def test_storage_methods(method: str, call_type: CallType, req: str, resp: str) -> None:
    info = lookup_method(f"proto.Storage.{method}", storage_pool())
    assert info.name == f"proto.Storage.{method}"
    assert info.call_type is call_type
    assert info.one_way is (call_type is CallType.MULTICAST)
    assert info.request_type.DESCRIPTOR.name == req
    assert info.response_type.DESCRIPTOR.name == resp
    assert info.method_field == encode_method_field(info.name)
    assert lookup_method(info.name, storage_pool()) is info  # cached


def test_message_classes_work() -> None:
    info = lookup_method("proto.Storage.WriteQC", storage_pool())
    req = info.request_type(key="k", value="v")
    req.time.seconds = 1700000003  # type: ignore[attr-defined]
    assert req.SerializeToString() == bytes.fromhex(
        "0a016b1201761a060883e2cfaa06")


def test_unknown_and_empty_method_names() -> None:
    with pytest.raises(UnknownMethodError) as info:
        lookup_method("proto.Storage.Nope", storage_pool())
    assert info.value.method == "proto.Storage.Nope"
    assert isinstance(info.value, LookupError)
    with pytest.raises(UnknownMethodError, match="empty"):
        lookup_method("")
    _pool_with([])
    with pytest.raises(UnknownMethodError):
        lookup_method("ct.S.M")  # only in a private pool, not in the default one


def test_call_type_property() -> None:
    assert CallType.UNICAST.one_way and CallType.MULTICAST.one_way
    assert not any(t.one_way for t in (CallType.RPC, CallType.QUORUMCALL,
                                       CallType.QUORUMCALL_STREAM))


def _pool_with(options: list[str], *, client_streaming: bool = False,
               server_streaming: bool = False) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for module in (descriptor_pb2, empty_pb2, gorums_pb2):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    fd = descriptor_pb2.FileDescriptorProto(
        name="ct.proto", package="ct", syntax="proto3",
        dependency=["google/protobuf/empty.proto", "gorums.proto"])
    method = fd.service.add(name="S").method.add(
        name="M", input_type=".google.protobuf.Empty", output_type=".google.protobuf.Empty",
        client_streaming=client_streaming, server_streaming=server_streaming)
    for option in options:
        method.options.Extensions[getattr(gorums_pb2, option)] = True
    pool.Add(fd)
    return pool


@pytest.mark.parametrize(
    ("options", "expected"),
    [([], CallType.RPC), (["rpc"], CallType.RPC), (["unicast"], CallType.UNICAST),
     (["multicast"], CallType.MULTICAST), (["quorumcall"], CallType.QUORUMCALL)],
)
def test_call_type_of_options(options: list[str], expected: CallType) -> None:
    pool = _pool_with(options)
    assert call_type_of(pool.FindMethodByName("ct.S.M")) is expected


def test_server_streaming_quorumcall() -> None:
    pool = _pool_with(["quorumcall"], server_streaming=True)
    assert call_type_of(pool.FindMethodByName("ct.S.M")) is CallType.QUORUMCALL_STREAM


@pytest.mark.parametrize(
    ("options", "kwargs", "match"),
    [(["quorumcall", "multicast"], {}, "more than one call type"),
     ([], {"client_streaming": True}, "client streaming"),
     (["quorumcall"], {"client_streaming": True, "server_streaming": True}, "client streaming"),
     ([], {"server_streaming": True}, "requires the gorums.quorumcall"),
     (["unicast"], {"server_streaming": True}, "requires the gorums.quorumcall")],
)
def test_invalid_call_types(options: list[str], kwargs: dict[str, bool], match: str) -> None:
    pool = _pool_with(options, **kwargs)
    with pytest.raises(CallTypeError, match=match):
        call_type_of(pool.FindMethodByName("ct.S.M"))
    # lookup still finds the message types (treated as a plain RPC)
    assert lookup_method("ct.S.M", pool).call_type is CallType.RPC
