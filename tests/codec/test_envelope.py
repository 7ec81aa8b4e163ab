"""The gorums envelope: varints, metadata fields, split/decode errors."""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2, wrappers_pb2

from gorums_h2.codec import EnvelopeError, decode_full, encode
from gorums_h2.codec.envelope import (
    decode_metadata,
    encode_entries,
    encode_metadata,
    encode_method_field,
    encode_status_field,
    encode_varint,
    split,
)
from gorums_h2.pb import ordering_pb2, status_pb2


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"),
     (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01"),
     (2**64 - 1, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")],
)
def test_varint(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded


@pytest.mark.parametrize("n", [0, 127, 128, 16384])
def test_split_reads_multibyte_lengths(n: int) -> None:
    md, msg = b"m" * n, b"x" * (n + 1)
    assert split(encode_varint(n) + md + encode_varint(n + 1) + msg) == (md, msg)


def test_metadata_fields_match_protobuf_serialization() -> None:
    detail = any_pb2.Any()
    detail.Pack(wrappers_pb2.StringValue(value="x"))
    md = encode_metadata(
        300,
        encode_method_field("proto.Storage.ReadQC"),
        encode_status_field(9, "failed ü", [detail]),
        encode_entries([("k", "v"), ("", "only value"), ("only key", ""), ("", "")]),
    )
    expected = ordering_pb2.Metadata(
        message_seq_no=300,
        method="proto.Storage.ReadQC",
        status=status_pb2.Status(code=9, message="failed ü", details=[detail]),
        entry=[ordering_pb2.MetadataEntry(key=k, value=v)
               for k, v in [("k", "v"), ("", "only value"), ("only key", ""), ("", "")]],
    )
    assert md == expected.SerializeToString()
    assert decode_metadata(md) == expected


def test_zero_values_are_omitted_like_proto3() -> None:
    assert encode_metadata(0, b"") == b""
    assert encode_method_field("") == b""
    assert encode_metadata(0, encode_method_field("m")) == b"\x12\x01m"
    # an OK status is still present when the caller adds it (Go sends none for OK)
    assert encode_status_field(0) == b"\x1a\x00"


def test_encode_and_split_and_decode() -> None:
    md = encode_metadata(7, encode_method_field("svc.M"))
    body = encode(md, b"payload")
    assert body == bytes([len(md)]) + md + b"\x07payload"
    assert split(body) == (md, b"payload")
    meta, _, msg = decode_full(body)
    assert (meta.message_seq_no, meta.method, msg) == (7, "svc.M", b"payload")


def test_large_payload_uses_multibyte_length() -> None:
    payload = b"p" * 70_000
    body = encode(b"\x08\x01", payload)
    assert body[:4] == b"\x02\x08\x01\xf0" and split(body) == (b"\x08\x01", payload)


def test_empty_envelope_parts() -> None:
    assert encode(b"", b"") == b"\x00\x00"
    meta, _, msg = decode_full(b"\x00\x00")
    assert meta == ordering_pb2.Metadata() and msg == b""


@pytest.mark.parametrize(
    ("body", "match"),
    [(b"", "truncated varint"), (b"\x80", "truncated varint"), (b"\x05ab", "exceeds envelope"),
     (b"\x00", "truncated varint"), (b"\x00\x03ab", "does not match"),
     (b"\x00\x01ab", "does not match"), (b"\xff" * 10 + b"\x01", "varint too long")],
)
def test_split_errors(body: bytes, match: str) -> None:
    with pytest.raises(EnvelopeError, match=match) as info:
        split(body)
    assert isinstance(info.value, ValueError)


def test_decode_error_reports_seq_no_and_method_when_metadata_is_readable() -> None:
    md = encode_metadata(42, encode_method_field("proto.Storage.ReadQC"))
    broken = encode(md, b"msg")[:-1]
    with pytest.raises(EnvelopeError) as info:
        decode_full(broken)
    assert (info.value.seq_no, info.value.method) == (42, "proto.Storage.ReadQC")


def test_decode_error_without_readable_metadata_has_no_seq_no() -> None:
    with pytest.raises(EnvelopeError) as info:
        decode_full(b"\x05ab")
    assert info.value.seq_no is None and info.value.method == ""


def test_unparseable_metadata_is_an_envelope_error() -> None:
    with pytest.raises(EnvelopeError, match="cannot parse gorums metadata"):
        decode_full(encode(b"\x0a\x05ab", b""))  # field 1 with the wrong wire type, truncated
