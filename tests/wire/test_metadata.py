"""Custom metadata: multi-values, -bin keys, reserved keys (sans-IO)."""

from __future__ import annotations

import base64

import pytest

from gorums_h2.wire.metadata import RESERVED_KEYS, Metadata


def test_multi_values_keep_order_and_last_wins_for_single_lookup() -> None:
    md = Metadata([("k", "1"), ("other", "x"), ("K", "2")])
    assert md.get_all("k") == ["1", "2"]
    assert md["k"] == "2" and md.get("K") == "2"
    assert list(md) == ["k", "other"] and len(md) == 2
    assert md.items_all() == [("k", "1"), ("other", "x"), ("k", "2")]
    assert "K" in md and "missing" not in md and 3 not in md
    with pytest.raises(KeyError):
        md["missing"]
    assert md.get("missing") is None and md.get_all("missing") == []


def test_constructors_and_copy() -> None:
    assert Metadata({"a": "1"}) == Metadata([("a", "1")]) == Metadata(a="1")
    assert Metadata(client_name="x").get("client-name") == "x"
    md = Metadata({"a": "1"})
    cp = md.copy()
    cp.add("a", "2")
    assert md.get_all("a") == ["1"] and cp.get_all("a") == ["1", "2"]
    md.extend([("b", "3")])
    md.extend(Metadata({"a": "4"}))
    assert md.items_all() == [("a", "1"), ("b", "3"), ("a", "4")]
    assert Metadata(md) == md
    assert not Metadata() and md
    assert Metadata({"a": "1"}) == {"a": "1"}


@pytest.mark.parametrize("key", ["", "has space", "ümlaut", "a/b", "a:b", "tab\t"])
def test_invalid_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="invalid metadata key"):
        Metadata([(key, "v")])


def test_value_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        Metadata({"k": "line\nbreak"})
    with pytest.raises(ValueError, match="printable ASCII"):
        Metadata({"k": "ü"})
    with pytest.raises(TypeError, match="str value"):
        Metadata({"k": b"bytes"})
    with pytest.raises(TypeError, match="bytes value"):
        Metadata({"k-bin": 5})  # type: ignore[dict-item]


def test_bin_values_are_bytes_and_unpadded_base64_on_the_wire() -> None:
    md = Metadata([("a-bin", b"\x00"), ("b-bin", b"\x00\x01"), ("c-bin", b"\x00\x01\x02"),
                   ("s-bin", "text")])
    assert md["s-bin"] == b"text"
    assert md.to_headers() == [(b"a-bin", b"AA"), (b"b-bin", b"AAE"), (b"c-bin", b"AAEC"),
                               (b"s-bin", b"dGV4dA")]


@pytest.mark.parametrize(
    "value", [b"", b"\x00", b"\xff\xfe", b"\x00\x01\x02\x03\x04", bytes(range(256))]
)
def test_bin_values_decode_padded_and_unpadded(value: bytes) -> None:
    padded = base64.b64encode(value)
    unpadded = padded.rstrip(b"=")
    for encoded in (padded, unpadded):
        assert Metadata.from_headers([(b"x-bin", encoded)])["x-bin"] == value


def test_bin_values_joined_with_commas_are_split() -> None:
    joined = base64.b64encode(b"one") + b", " + base64.b64encode(b"\x00\x01").rstrip(b"=")
    assert Metadata.from_headers([(b"x-bin", joined)]).get_all("x-bin") == [b"one", b"\x00\x01"]


def test_undecodable_bin_values_are_dropped_not_fatal() -> None:
    md = Metadata.from_headers([(b"x-bin", b"!!!"), (b"x-bin", b"AA"), (b"y", b"ok")])
    assert md.get_all("x-bin") == [b"\x00"] and md["y"] == "ok"


def test_from_headers_skips_and_keeps_text_values() -> None:
    md = Metadata.from_headers([(b"te", b"trailers"), (b"a", b"1"), (b"a", b"2")],
                               frozenset({b"te"}))
    assert md.items_all() == [("a", "1"), ("a", "2")]


def test_wire_round_trip() -> None:
    md = Metadata([("k", "v1"), ("k", "v2"), ("blob-bin", bytes(range(10)))])
    assert Metadata.from_headers(md.to_headers()) == md


@pytest.mark.parametrize(
    "key",
    [*sorted(RESERVED_KEYS), "grpc-status", "grpc-timeout", "grpc-anything", ":path", ":authority"],
)
def test_reserved_keys_are_refused_for_sending(key: str) -> None:
    md = Metadata()
    md._pairs.append((key, "x"))  # receiving them is fine; sending is not
    with pytest.raises(ValueError, match=f"{key!r} is reserved"):
        md.validate_for_send()


def test_ordinary_keys_are_fine_for_sending() -> None:
    Metadata([("grpcx", "1"), ("x-grpc-y", "2"), ("te-x", "3"), ("a.b_c-d", "4"),
              ("trace-bin", b"\x00")]).validate_for_send()
