"""Property tests of the gorums envelope (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gorums_h2.codec import EnvelopeError, decode_full, encode
from gorums_h2.codec.envelope import (
    encode_entries,
    encode_metadata,
    encode_method_field,
    encode_status_field,
    split,
)
from gorums_h2.pb import ordering_pb2, status_pb2

text = st.text(max_size=40)
entries = st.lists(st.tuples(text, text), max_size=4)
status = st.none() | st.tuples(st.integers(0, 16), text)


@given(st.integers(0, 2**64 - 1), text, status, entries, st.binary(max_size=300))
def test_encoding_is_byte_identical_to_protobuf(
    seq: int, method: str, stat: tuple[int, str] | None, pairs: list[tuple[str, str]],
    payload: bytes,
) -> None:
    md = encode_metadata(
        seq, encode_method_field(method),
        encode_status_field(*stat) if stat is not None else b"", encode_entries(pairs))
    reference = ordering_pb2.Metadata(
        message_seq_no=seq, method=method,
        entry=[ordering_pb2.MetadataEntry(key=k, value=v) for k, v in pairs])
    if stat is not None:
        reference.status.CopyFrom(status_pb2.Status(code=stat[0], message=stat[1]))
    assert md == reference.SerializeToString()
    body = encode(md, payload)
    assert split(body) == (md, payload)
    decoded, _, msg = decode_full(body)
    assert decoded == reference and msg == payload


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_envelope_error(body: bytes) -> None:
    for fn in (split, decode_full):
        try:
            fn(body)
        except EnvelopeError:
            pass


@given(st.binary(max_size=60), st.binary(max_size=60))
def test_metadata_garbage_inside_a_valid_frame_is_an_envelope_error(md: bytes, msg: bytes) -> None:
    body = encode(md, msg)
    assert split(body) == (md, msg)
    try:
        decode_full(body)
    except EnvelopeError:
        pass
