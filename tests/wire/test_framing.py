"""gRPC length-prefixed framing, sans-IO."""

from __future__ import annotations

import gzip
import struct
import zlib

import pytest

from gorums_h2.wire.errors import MessageTooLarge, ProtocolViolation
from gorums_h2.wire.framing import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MessageDecoder,
    encode_message,
    encode_prefix,
)
from gorums_h2.wire.status import StatusCode


def raw(flag: int, body: bytes) -> bytes:
    return struct.pack(">BI", flag, len(body)) + body


def test_encoder_prefix_is_flag_and_big_endian_length() -> None:
    assert encode_message(b"") == b"\x00\x00\x00\x00\x00"
    assert encode_message(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert encode_prefix(0x01020304) == b"\x00\x01\x02\x03\x04"
    assert encode_message(b"x" * 300)[:5] == b"\x00\x00\x00\x01\x2c"


def test_default_max_is_grpc_go_4_mib() -> None:
    assert DEFAULT_MAX_MESSAGE_SIZE == 4 * 1024 * 1024
    assert MessageDecoder().max_size == DEFAULT_MAX_MESSAGE_SIZE


def test_many_messages_packed_in_one_payload() -> None:
    bodies = [b"", b"a", b"bc" * 100, b"", b"\x00" * 7]
    dec = MessageDecoder()
    assert dec.feed(b"".join(encode_message(b) for b in bodies)) == bodies
    assert dec.buffered == 0


def test_one_message_across_many_payloads_byte_by_byte() -> None:
    data = encode_message(b"hello world") + encode_message(b"!")
    dec = MessageDecoder()
    out: list[bytes] = []
    for i in range(len(data)):
        got = dec.feed(data[i : i + 1])
        out += got
        if i < 15:
            assert got == []
            assert dec.buffered == i + 1
    assert out == [b"hello world", b"!"]
    assert dec.buffered == 0


def test_split_prefix_and_trailing_partial_message() -> None:
    dec = MessageDecoder()
    a, b = encode_message(b"first"), encode_message(b"second")
    assert dec.feed(a + b[:3]) == [b"first"]
    assert dec.buffered == 3
    assert dec.feed(b[3:7]) == []
    assert dec.feed(b[7:] + a) == [b"second", b"first"]


def test_returned_messages_are_bytes_not_views() -> None:
    dec = MessageDecoder()
    dec.feed(encode_message(b"ab")[:4])
    (msg,) = dec.feed(encode_message(b"ab")[4:])
    assert type(msg) is bytes and msg == b"ab"


def test_message_of_exactly_max_size_is_accepted() -> None:
    dec = MessageDecoder(max_size=10)
    assert dec.feed(encode_message(b"x" * 10)) == [b"x" * 10]


def test_too_large_is_detected_from_the_prefix_alone() -> None:
    dec = MessageDecoder(max_size=10)
    with pytest.raises(MessageTooLarge) as info:
        dec.feed(encode_prefix(11))  # before any of the body arrived
    assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
    assert "11 vs. 10" in info.value.message


def test_too_large_prefix_split_across_payloads() -> None:
    dec = MessageDecoder(max_size=100)
    assert dec.feed(encode_prefix(2**32 - 1)[:2]) == []
    with pytest.raises(MessageTooLarge):
        dec.feed(encode_prefix(2**32 - 1)[2:])


def test_compressed_flag_without_encoding_is_a_protocol_violation() -> None:
    for encoding in (None, "identity"):
        dec = MessageDecoder(encoding=encoding)
        with pytest.raises(ProtocolViolation, match="no grpc-encoding") as info:
            dec.feed(raw(1, gzip.compress(b"x")))
        assert info.value.code == StatusCode.INTERNAL


@pytest.mark.parametrize("flag", [2, 0x80, 0xFF])
def test_invalid_flag_is_a_protocol_violation(flag: int) -> None:
    with pytest.raises(ProtocolViolation, match="flag"):
        MessageDecoder(encoding="gzip").feed(raw(flag, b"x"))


def test_gzip_bodies_are_decompressed_next_to_plain_ones() -> None:
    dec = MessageDecoder(encoding="gzip")
    data = raw(1, gzip.compress(b"zipped" * 50)) + raw(0, b"plain") + raw(1, gzip.compress(b""))
    assert dec.feed(data[:7]) == []
    assert dec.feed(data[7:]) == [b"zipped" * 50, b"plain", b""]


def test_deflate_bodies_are_decompressed() -> None:
    dec = MessageDecoder(encoding="deflate")
    assert dec.feed(raw(1, zlib.compress(b"deflated"))) == [b"deflated"]


def test_unsupported_encoding_is_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolation, match="snappy"):
        MessageDecoder(encoding="snappy").feed(raw(1, b"x"))


def test_corrupt_gzip_is_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolation, match="decompress"):
        MessageDecoder(encoding="gzip").feed(raw(1, b"not gzip at all"))


def test_decompression_bomb_is_message_too_large() -> None:
    bomb = gzip.compress(b"\x00" * 500_000)
    dec = MessageDecoder(max_size=1000, encoding="gzip")
    assert len(bomb) < 1000
    with pytest.raises(MessageTooLarge, match="after decompression larger than max 1000"):
        dec.feed(raw(1, bomb))


def test_decompressed_size_exactly_at_max_is_accepted() -> None:
    dec = MessageDecoder(max_size=1000, encoding="gzip")
    assert dec.feed(raw(1, gzip.compress(b"y" * 1000))) == [b"y" * 1000]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_messages_round_trip_once_the_encoding_is_known(encoding: str) -> None:
    from gorums_h2.wire.framing import compress, encode_compressed_prefix

    body = b"abc" * 1000
    packed = compress(body, encoding)
    wire = encode_compressed_prefix(len(packed)) + packed + encode_message(b"plain")
    dec = MessageDecoder()
    dec.encoding = encoding  # a server learns it from the request headers
    assert dec.encoding == encoding
    assert dec.feed(wire[:7]) + dec.feed(wire[7:]) == [body, b"plain"]
    dec.encoding = "identity"
    assert dec.encoding is None
