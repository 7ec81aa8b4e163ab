"""The hand-made health message codec against protobuf's own (generated) classes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gorums_h2.health import (
    ServingStatus,
    decode_check_request,
    decode_check_response,
    decode_list_response,
    encode_check_request,
    encode_check_response,
    encode_list_response,
)
from gorums_h2.pb import health_pb2

statuses = st.sampled_from(list(ServingStatus))


@given(st.text())
def test_check_request_matches_protobuf(service: str) -> None:
    encoded = encode_check_request(service)
    assert encoded == health_pb2.HealthCheckRequest(service=service).SerializeToString()
    assert decode_check_request(encoded) == service


@given(statuses)
def test_check_response_matches_protobuf(status: ServingStatus) -> None:
    encoded = encode_check_response(status)
    assert encoded == health_pb2.HealthCheckResponse(
        status=int(status)).SerializeToString()  # type: ignore[arg-type]
    assert decode_check_response(encoded) is status


@given(st.dictionaries(st.text(), statuses, max_size=5))
def test_list_response_matches_protobuf(listed: dict[str, ServingStatus]) -> None:
    encoded = encode_list_response(listed)
    parsed = health_pb2.HealthListResponse.FromString(encoded)
    assert {k: v.status for k, v in parsed.statuses.items()} == listed
    assert decode_list_response(encoded) == listed
    message = health_pb2.HealthListResponse()
    for key, status in listed.items():
        message.statuses[key].status = int(status)  # type: ignore[assignment]
    assert decode_list_response(message.SerializeToString()) == listed


def test_unknown_fields_are_skipped_and_unknown_statuses_read_as_unknown() -> None:
    # field 7 (varint), field 8 (fixed64), field 9 (fixed32), then the service
    extra = b"\x38\x96\x01" + b"\x41" + bytes(8) + b"\x4d" + bytes(4)
    assert decode_check_request(extra + b"\x0a\x03abc") == "abc"
    assert decode_check_response(b"\x08\x2a") is ServingStatus.UNKNOWN  # status 42


# truncated string, truncated varint, wire type 3, field number 0
@pytest.mark.parametrize("body", [b"\x0a\x05ab", b"\x08", b"\x0b", b"\x00\x01"])
def test_malformed_messages_raise_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_check_request(body)
    with pytest.raises(ValueError):
        decode_check_response(body)
    with pytest.raises(ValueError):
        decode_list_response(b"\x0a" + bytes([len(body)]) + body)


def test_a_service_name_that_is_not_utf8_raises_value_error() -> None:
    with pytest.raises(ValueError):
        decode_check_request(b"\x0a\x01\xff")
