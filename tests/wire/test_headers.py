"""Header blocks: building, validating, parsing, grpc-timeout (sans-IO)."""

from __future__ import annotations

import base64

import pytest
from google.protobuf import any_pb2, wrappers_pb2

from gorums_h2._version import __version__
from gorums_h2.pb import status_pb2
from gorums_h2.wire.errors import ProtocolViolation
from gorums_h2.wire.headers import (
    USER_AGENT,
    HeaderError,
    build_request_headers,
    build_response_headers,
    build_trailers,
    content_type,
    encode_timeout,
    parse_response_headers,
    parse_timeout,
    parse_trailers,
    validate_request_headers,
)
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.status import StatusCode, StatusError


def test_request_headers_in_grpc_go_order_with_metadata_last() -> None:
    md = Metadata([("client-name", "py"), ("blob-bin", b"\x00\xff")])
    headers = build_request_headers(
        "/ordering.Gorums/NodeStream", "10.0.0.1:9000", subtype="gorums", metadata=md
    )
    assert headers == [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", b"/ordering.Gorums/NodeStream"),
        (b":authority", b"10.0.0.1:9000"),
        (b"content-type", b"application/grpc+gorums"),
        (b"user-agent", f"gorums-h2/{__version__}".encode()),
        (b"te", b"trailers"),
        (b"client-name", b"py"),
        (b"blob-bin", b"AP8"),
    ]
    assert f"gorums-h2/{__version__}" == USER_AGENT


def test_request_headers_options() -> None:
    headers = dict(build_request_headers("/a.B/C", "h:1", scheme="https", timeout=1.5,
                                         user_agent="mine/1"))
    assert headers[b":scheme"] == b"https"
    assert headers[b"content-type"] == b"application/grpc"
    assert headers[b"grpc-timeout"] == b"1500000u"
    assert headers[b"user-agent"] == b"mine/1"
    assert b"grpc-timeout" not in dict(build_request_headers("/a.B/C", "h:1"))


@pytest.mark.parametrize("key", ["grpc-status", "content-type", "te", "user-agent", ":path"])
def test_request_headers_refuse_reserved_metadata(key: str) -> None:
    md = Metadata()
    md._pairs.append((key, "x"))  # bypass add()'s shape check for ':path'
    with pytest.raises(ValueError, match="reserved"):
        build_request_headers("/a.B/C", "h:1", metadata=md)


def test_content_type() -> None:
    assert content_type(None) == b"application/grpc"
    assert content_type("") == b"application/grpc"
    assert content_type("proto") == b"application/grpc+proto"


def _request(over: dict[bytes, bytes] | None = None) -> list[tuple[bytes, bytes]]:
    base = {
        b":method": b"POST", b":scheme": b"http", b":path": b"/pkg.Svc/M",
        b":authority": b"host:1", b"content-type": b"application/grpc+gorums",
        b"user-agent": b"grpc-go/1.78.0", b"te": b"trailers",
    }
    base.update(over or {})
    return [(k, v) for k, v in base.items() if v != b"<drop>"]


def test_validate_request_extracts_the_head() -> None:
    headers = [*_request({b"grpc-timeout": b"250m"}), (b"k", b"v1"), (b"k", b"v2"),
               (b"b-bin", base64.b64encode(b"\x01\x02"))]
    head = validate_request_headers(headers)
    assert head.path == "/pkg.Svc/M"
    assert head.authority == "host:1"
    assert head.subtype == "gorums"
    assert head.timeout == pytest.approx(0.25)
    assert head.encoding is None
    assert head.metadata.get_all("k") == ["v1", "v2"]
    assert head.metadata["b-bin"] == b"\x01\x02"
    # grpc-go shows these to handlers; protocol headers are not metadata
    assert head.metadata[":authority"] == "host:1"
    assert head.metadata["user-agent"] == "grpc-go/1.78.0"
    for hidden in (":method", ":path", ":scheme", "te", "grpc-timeout"):
        assert hidden not in head.metadata


@pytest.mark.parametrize(
    ("value", "subtype"),
    [(b"application/grpc", ""), (b"application/grpc+proto", "proto"),
     (b"application/grpc+gorums", "gorums"), (b"Application/GRPC+Gorums", "gorums"),
     (b"application/grpc; charset=utf-8", ""), (b"application/grpc+json;x=y", "json")],
)
def test_grpc_content_types_are_accepted(value: bytes, subtype: str) -> None:
    assert validate_request_headers(_request({b"content-type": value})).subtype == subtype


@pytest.mark.parametrize("value", [b"application/json", b"application/grpc-web", b"text/plain",
                                   b"<drop>"])
def test_other_content_types_are_415(value: bytes) -> None:
    with pytest.raises(HeaderError) as info:
        validate_request_headers(_request({b"content-type": value}))
    assert info.value.http_status == 415
    assert info.value.grpc_status == StatusCode.INTERNAL


def test_non_post_is_405() -> None:
    with pytest.raises(HeaderError) as info:
        validate_request_headers(_request({b":method": b"GET"}))
    assert info.value.http_status == 405


def test_missing_te_is_tolerated() -> None:
    assert validate_request_headers(_request({b"te": b"<drop>"})).path == "/pkg.Svc/M"


@pytest.mark.parametrize("value", [b"", b"m", b"10", b"123456789S", b"-1S", b"1.5S", b"10x",
                                   b"1 S", b"\xff\xffS"])
def test_malformed_grpc_timeout_is_refused_with_a_grpc_status(value: bytes) -> None:
    with pytest.raises(ValueError, match="malformed grpc-timeout"):
        parse_timeout(value)
    with pytest.raises(HeaderError) as info:
        validate_request_headers(_request({b"grpc-timeout": value}))
    assert info.value.http_status == 200
    assert info.value.grpc_status == StatusCode.INTERNAL


def test_request_grpc_encoding_is_reported() -> None:
    head = validate_request_headers(_request({b"grpc-encoding": b"gzip"}))
    assert head.encoding == "gzip"
    assert "grpc-encoding" not in head.metadata


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(b"1n", 1e-9), (b"99999999n", 0.099999999), (b"7u", 7e-6), (b"250m", 0.25), (b"3S", 3.0),
     (b"2M", 120.0), (b"1H", 3600.0), (b"00000010S", 10.0), (b"99999999H", 99999999 * 3600.0)],
)
def test_parse_timeout_units(value: bytes, seconds: float) -> None:
    assert parse_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("seconds", "value"),
    [(0, b"1n"), (-5, b"1n"), (1e-9, b"1n"), (0.25, b"250000u"), (1.0, b"1000000u"),
     (1.5, b"1500000u"), (100.0, b"100000m"), (3600.0 * 24, b"86400000m"), (1e9, b"16666667M"),
     (1e11, b"27777778H"), (1e12, b"99999999H")],
)
def test_encode_timeout_uses_at_most_8_digits_and_rounds_up(seconds: float, value: bytes) -> None:
    assert encode_timeout(seconds) == value


@pytest.mark.parametrize("seconds", [1e-9, 3e-7, 0.001, 0.123456789, 1.0, 59.9, 3601.5, 1e7])
def test_encode_timeout_round_trip_never_shortens(seconds: float) -> None:
    encoded = encode_timeout(seconds)
    assert len(encoded) <= 9
    back = parse_timeout(encoded)
    assert back >= seconds * (1 - 1e-12)
    assert back <= seconds * 1.01 + 1e-9


def test_response_headers() -> None:
    assert build_response_headers("gorums") == [
        (b":status", b"200"), (b"content-type", b"application/grpc+gorums")]
    headers = build_response_headers(None, Metadata({"x": "1"}))
    assert headers == [(b":status", b"200"), (b"content-type", b"application/grpc"),
                       (b"x", b"1")]
    md, encoding = parse_response_headers([*headers, (b"grpc-encoding", b"gzip")])
    assert md == Metadata({"x": "1"}) and encoding == "gzip"
    with pytest.raises(ValueError, match="reserved"):
        build_response_headers(None, Metadata({"grpc-foo": "1"}))


def test_parse_response_headers_errors() -> None:
    with pytest.raises(StatusError) as info:
        parse_response_headers([(b":status", b"503"), (b"content-type", b"application/grpc")])
    assert info.value.code == StatusCode.UNAVAILABLE
    assert "503" in info.value.message
    with pytest.raises(StatusError) as info:
        parse_response_headers([(b"content-type", b"application/grpc")])
    assert info.value.code == StatusCode.UNKNOWN
    with pytest.raises(ProtocolViolation):
        parse_response_headers([(b":status", b"200"), (b"content-type", b"text/html")])
    with pytest.raises(ProtocolViolation):
        parse_response_headers([(b":status", b"200")])


def test_trailers_ok_and_error() -> None:
    assert build_trailers(StatusCode.OK) == [(b"grpc-status", b"0")]
    ok, md = parse_trailers(build_trailers(0, metadata=Metadata({"t": "v"})))
    assert ok is None and md == Metadata({"t": "v"})
    trailers = build_trailers(StatusCode.NOT_FOUND, "no key 'ü' 100%")
    assert trailers == [(b"grpc-status", b"5"),
                        (b"grpc-message", b"no key '%C3%BC' 100%25")]
    err, _ = parse_trailers(trailers)
    assert err == StatusError(StatusCode.NOT_FOUND, "no key 'ü' 100%")


def test_trailers_with_details_round_trip() -> None:
    detail = any_pb2.Any()
    detail.Pack(wrappers_pb2.Int64Value(value=42))
    trailers = build_trailers(StatusCode.FAILED_PRECONDITION, "bad", [detail])
    raw = dict(trailers)[b"grpc-status-details-bin"]
    assert not raw.endswith(b"=")
    status = status_pb2.Status.FromString(base64.b64decode(raw + b"=" * (-len(raw) % 4)))
    assert (status.code, status.message, list(status.details)) == (9, "bad", [detail])
    err, md = parse_trailers(trailers)
    assert err is not None and err.details == (detail,)
    assert "grpc-status-details-bin" not in md


def test_trailers_with_garbage_details_keep_code_and_message() -> None:
    err, _ = parse_trailers([(b"grpc-status", b"3"), (b"grpc-message", b"m"),
                             (b"grpc-status-details-bin", b"!!not base64!!")])
    assert err == StatusError(StatusCode.INVALID_ARGUMENT, "m")


def test_trailers_without_grpc_status_are_a_protocol_violation() -> None:
    err, _ = parse_trailers([(b"x", b"y")])
    assert isinstance(err, ProtocolViolation)
    err, _ = parse_trailers([(b":status", b"200"), (b"content-type", b"application/grpc")])
    assert isinstance(err, ProtocolViolation)


def test_trailers_only_http_error_maps_the_http_status() -> None:
    err, _ = parse_trailers([(b":status", b"429")])
    assert err is not None and err.code == StatusCode.UNAVAILABLE
    # a grpc-status in the block wins over the HTTP status
    err, _ = parse_trailers([(b":status", b"415"), (b"grpc-status", b"13")])
    assert err is not None and err.code == StatusCode.INTERNAL


def test_unknown_grpc_status_number_is_unknown() -> None:
    err, _ = parse_trailers([(b"grpc-status", b"99")])
    assert err is not None and err.code == StatusCode.UNKNOWN
    err, _ = parse_trailers([(b"grpc-status", b"abc")])
    assert err is not None and err.code == StatusCode.UNKNOWN


def test_build_trailers_refuses_reserved_metadata() -> None:
    md = Metadata()
    md._pairs.append(("grpc-status", "0"))
    with pytest.raises(ValueError, match="reserved"):
        build_trailers(0, metadata=md)
