"""The two wire protocols (sans-IO): byte identity with protobuf, round trips,
each wire's reply and error rules, decode errors, naming."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gorums_h2.codec import ORDERING, STREAM, Envelope, EnvelopeError, encode, get_wire
from gorums_h2.codec.envelope import encode_method_field
from gorums_h2.codec.wires import get_wires
from gorums_h2.pb import ordering_pb2, status_pb2, stream_pb2
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.status import StatusCode, StatusError

text = st.text(max_size=30)
pairs = st.lists(st.tuples(text, text), max_size=3)
# status texts from a peer reach users escaped (escape_peer_text): printable ones round-trip
printable = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp", "Co", "Cn")),
                    max_size=30).filter(str.isprintable)
status = st.none() | st.tuples(st.integers(1, 16), printable)


def _envelope(seq: int, method: str, stat: tuple[int, str] | None,
              entries: list[tuple[str, str]], payload: bytes) -> Envelope:
    err = StatusError(StatusCode(stat[0]), stat[1]) if stat is not None else None
    return Envelope(seq, method, payload, err, entries)


@given(st.integers(0, 2**64 - 1), text, status, pairs, st.binary(max_size=200))
def test_stream_wire_is_byte_identical_to_protobuf_and_round_trips(
    seq: int, method: str, stat: tuple[int, str] | None, entries: list[tuple[str, str]],
    payload: bytes,
) -> None:
    env = _envelope(seq, method, stat, entries, payload)
    reference = stream_pb2.Message(
        message_seq_no=seq, method=method, payload=payload,
        entry=[stream_pb2.MetadataEntry(key=k, value=v) for k, v in entries])
    if stat is not None:
        reference.status.CopyFrom(status_pb2.Status(code=stat[0], message=stat[1]))
    body = STREAM.encode(env)
    assert body == reference.SerializeToString()
    assert STREAM.decode(body) == env
    if stat is None and not entries:
        assert STREAM.frame(STREAM.request_header(seq, encode_method_field(method)),
                            payload) == body


@given(st.integers(0, 2**64 - 1), text, status, pairs, st.binary(max_size=200))
def test_ordering_wire_is_byte_identical_to_protobuf_and_round_trips(
    seq: int, method: str, stat: tuple[int, str] | None, entries: list[tuple[str, str]],
    payload: bytes,
) -> None:
    env = _envelope(seq, method, stat, entries, payload)
    reference = ordering_pb2.Metadata(
        message_seq_no=seq, method=method,
        entry=[ordering_pb2.MetadataEntry(key=k, value=v) for k, v in entries])
    if stat is not None:
        reference.status.CopyFrom(status_pb2.Status(code=stat[0], message=stat[1]))
    md = reference.SerializeToString()
    body = ORDERING.encode(env)
    assert ORDERING.decode(body) == env
    assert body == encode(md, payload)  # protobuf's Metadata bytes, v0.11 framing


def test_replies_follow_each_wires_rules() -> None:
    request_body = ORDERING.encode(Envelope(7, "p.S.M", b"\x08\x01", None, [("k", "v")]))
    request = ORDERING.decode(request_body)
    # v0.11: the reply repeats the request's metadata bytes (entries echoed)
    assert ORDERING.encode_reply(request, b"\x10\x02") == request_body[:-3] + b"\x02\x10\x02"
    err = StatusError(StatusCode.NOT_FOUND, "gone")
    assert ORDERING.decode(ORDERING.encode_error(request, err)) == Envelope(
        7, "p.S.M", b"", err, [("k", "v")])
    # master: seq and method only, never entries; an error has no payload field
    stream_request = STREAM.decode(STREAM.encode(request))
    assert STREAM.decode(STREAM.encode_reply(stream_request, b"\x10\x02")) == Envelope(
        7, "p.S.M", b"\x10\x02")
    assert STREAM.encode_error(stream_request, err) == (
        b"\x08\x07\x12\x05p.S.M\x1a\x08\x08\x05\x12\x04gone")
    # a changed entry list is what the ordering wire echoes
    request.entries = [("x", "y")]
    assert ORDERING.decode(ORDERING.encode_reply(request, b"")).entries == [("x", "y")]


def test_decode_errors_say_what_they_could_read() -> None:
    broken = ORDERING.encode(Envelope(9, "p.S.M", b"abc"))[:-1]  # message part cut short
    with pytest.raises(EnvelopeError) as info:
        ORDERING.decode(broken)
    assert (info.value.seq_no, info.value.method) == (9, "p.S.M")
    assert ORDERING.undecodable(info.value) is None  # answered in-band
    with pytest.raises(EnvelopeError):
        STREAM.decode(b"\x0f")
    fatal = STREAM.undecodable(EnvelopeError("x"))
    assert fatal is not None and fatal.code == StatusCode.INTERNAL


@settings(max_examples=300)
@given(st.binary(max_size=120))
def test_random_bytes_raise_only_envelope_error(body: bytes) -> None:
    for wire in (ORDERING, STREAM):
        try:
            wire.decode(body)
        except EnvelopeError:
            pass


def test_rules_and_names() -> None:
    assert ORDERING.unknown_method("a.B.C").code == STREAM.unknown_method("a.B.C").code == 12
    assert STREAM.bad_payload("a.B.C", "T", ValueError("x")).code == StatusCode.UNKNOWN
    assert ORDERING.bad_payload("a.B.C", "T", ValueError("x")).code == StatusCode.INTERNAL
    assert ORDERING.accepted_subtypes == {"gorums"}
    assert STREAM.accepted_subtypes == {"", "proto", "gorums"}
    assert STREAM.offers_back_channel(Metadata([("gorums-node-id", "0")]))
    assert not STREAM.offers_back_channel(Metadata())
    assert not ORDERING.offers_back_channel(Metadata([("gorums-node-id", "0")]))
    assert get_wire("stream") is STREAM and get_wire(ORDERING) is ORDERING
    assert get_wires(["stream", "ordering", "stream"]) == (STREAM, ORDERING)
    with pytest.raises(ValueError):
        get_wire("http")
    assert "Manager(wire='ordering')" in STREAM.mismatch_hint(ORDERING)
    assert repr(Envelope(1, "m", b"xy", StatusError(StatusCode.ABORTED))) == (
        "Envelope(seq=1, method='m', payload=2 bytes, status=ABORTED)")


def test_only_the_wire_modules_know_the_wire_messages() -> None:
    """The seam: the runtime works on Envelope; only codec/ordering.py (and v0.11's
    byte helpers, codec/envelope.py) know ordering_pb2, only codec/stream.py stream_pb2."""
    from pathlib import Path

    import gorums_h2

    root = Path(gorums_h2.__file__).parent
    users: dict[str, set[str]] = {"ordering_pb2": set(), "stream_pb2": set()}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("pb/"):
            continue
        text = path.read_text()
        for name, found in users.items():
            if name in text:
                found.add(rel)
    assert users == {"ordering_pb2": {"codec/ordering.py", "codec/envelope.py"},
                     "stream_pb2": {"codec/stream.py"}}
