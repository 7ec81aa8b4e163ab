"""Status codes, grpc-message percent-encoding, grpc-status-details-bin."""

from __future__ import annotations

import base64

import pytest
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2

from gorums_h2.pb import status_pb2
from gorums_h2.wire.errors import (
    ConnectionBroken,
    ConnectionClosed,
    GoAwayError,
    MessageTooLarge,
    ProtocolViolation,
)
from gorums_h2.wire.status import (
    StatusCode,
    StatusError,
    decode_grpc_message,
    decode_status_details,
    encode_grpc_message,
    encode_status_details,
    status_code_from_http,
)

GRPC_CODES = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
    "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}


def test_all_17_codes_match_the_grpc_specification() -> None:
    assert {c.name: c.value for c in StatusCode} == GRPC_CODES


@pytest.mark.parametrize("code", list(StatusCode))
def test_every_code_parses_from_its_header_value(code: StatusCode) -> None:
    assert StatusCode.parse(str(code.value)) is code
    assert StatusCode.parse(str(code.value).encode()) is code
    assert StatusCode.parse(code.value) is code


@pytest.mark.parametrize("value", [17, -1, "99", b"x", "", b" "])
def test_unknown_code_values_parse_as_unknown(value: int | str | bytes) -> None:
    assert StatusCode.parse(value) is StatusCode.UNKNOWN


def test_status_error_fields_equality_and_text() -> None:
    detail = any_pb2.Any()
    detail.Pack(wrappers_pb2.StringValue(value="d"))
    err = StatusError(StatusCode.NOT_FOUND, "gone", [detail])
    assert (err.code, err.message, err.details) == (StatusCode.NOT_FOUND, "gone", (detail,))
    assert str(err) == "NOT_FOUND: gone" and str(StatusError(4)) == "DEADLINE_EXCEEDED"
    assert repr(err) == "StatusError(NOT_FOUND, 'gone')"
    assert err == StatusError(5, "gone", [detail]) != StatusError(5, "gone")
    assert StatusError().code == StatusCode.UNKNOWN
    assert StatusError.from_proto(err.to_proto()) == err
    assert {err}  # hashable


@pytest.mark.parametrize(
    ("cls", "code"),
    [(ConnectionBroken, StatusCode.UNAVAILABLE), (ConnectionClosed, StatusCode.CANCELLED),
     (GoAwayError, StatusCode.UNAVAILABLE), (ProtocolViolation, StatusCode.INTERNAL),
     (MessageTooLarge, StatusCode.RESOURCE_EXHAUSTED)],
)
def test_error_subclasses_carry_their_code(cls: type[StatusError], code: StatusCode) -> None:
    err = cls("why")
    assert isinstance(err, StatusError)
    assert (err.code, err.message) == (code, "why")


@pytest.mark.parametrize(
    ("message", "encoded"),
    [("", ""), ("plain ascii: ok!", "plain ascii: ok!"), ("100%", "100%25"),
     ("ünïcode", "%C3%BCn%C3%AFcode"), ("tab\there", "tab%09here"), ("nl\n", "nl%0A"),
     ("del\x7f", "del%7F"), ("€ 😀", "%E2%82%AC %F0%9F%98%80"), ("~ ` { }", "~ ` { }")],
)
def test_grpc_message_percent_encoding(message: str, encoded: str) -> None:
    assert encode_grpc_message(message) == encoded
    assert decode_grpc_message(encoded) == message
    assert decode_grpc_message(encoded.encode("ascii")) == message


def test_grpc_message_lower_case_hex_decodes() -> None:
    assert decode_grpc_message("%c3%bc") == "ü"


@pytest.mark.parametrize(
    ("value", "decoded"),
    [("%", "%"), ("%4", "%4"), ("abc%", "abc%"), ("%zz", "%zz"), ("%%41", "%A"),
     ("%4g1", "%4g1"), ("a%2", "a%2"), ("%C3", "\ufffd"), ("%FF%FE", "\ufffd\ufffd")],
)
def test_malformed_escapes_are_kept_verbatim(value: str, decoded: str) -> None:
    assert decode_grpc_message(value) == decoded


def test_grpc_message_with_raw_non_ascii_bytes_does_not_fail() -> None:
    assert decode_grpc_message(b"caf\xc3\xa9") == "café"
    assert decode_grpc_message(b"bad \xff") == "bad \ufffd"


def _details() -> list[any_pb2.Any]:
    a, b = any_pb2.Any(), any_pb2.Any()
    a.Pack(wrappers_pb2.StringValue(value="first"))
    b.Pack(duration_pb2.Duration(seconds=3))
    return [a, b]


def test_status_details_bin_is_unpadded_base64_of_google_rpc_status() -> None:
    value = encode_status_details(StatusCode.ABORTED, "m ü", _details())
    assert "=" not in value
    pb = status_pb2.Status.FromString(base64.b64decode(value + "=" * (-len(value) % 4)))
    assert (pb.code, pb.message, list(pb.details)) == (10, "m ü", _details())
    out = pb.details[1]
    unpacked = duration_pb2.Duration()
    assert out.Unpack(unpacked) and unpacked.seconds == 3


def test_status_details_decode_padded_and_unpadded() -> None:
    pb = status_pb2.Status(code=3, message="x", details=_details())
    padded = base64.b64encode(pb.SerializeToString())
    for value in (padded, padded.rstrip(b"="), padded.decode(), padded.rstrip(b"=").decode()):
        assert decode_status_details(value) == pb


@pytest.mark.parametrize("value", ["!!!", "A", b"\xff\xfe", "/w"])
def test_invalid_status_details_decode_to_none(value: str | bytes) -> None:
    assert decode_status_details(value) is None


@pytest.mark.parametrize(
    ("http", "code"),
    [(400, StatusCode.INTERNAL), (401, StatusCode.UNAUTHENTICATED),
     (403, StatusCode.PERMISSION_DENIED), (404, StatusCode.UNIMPLEMENTED),
     (429, StatusCode.UNAVAILABLE), (502, StatusCode.UNAVAILABLE), (503, StatusCode.UNAVAILABLE),
     (504, StatusCode.UNAVAILABLE), (500, StatusCode.UNKNOWN), (301, StatusCode.UNKNOWN)],
)
def test_http_status_mapping(http: int, code: StatusCode) -> None:
    assert status_code_from_http(http) == code
