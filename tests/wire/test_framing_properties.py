"""Property tests of the message decoder (hypothesis)."""

from __future__ import annotations

import gzip
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from gorums_h2.wire.errors import MessageTooLarge, ProtocolViolation
from gorums_h2.wire.framing import MessageDecoder, encode_message

bodies = st.lists(st.binary(max_size=300), max_size=20)


@st.composite
def split_points(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=30)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@given(st.data(), bodies)
def test_any_split_decodes_to_the_same_messages(data: st.DataObject, msgs: list[bytes]) -> None:
    stream = b"".join(encode_message(m) for m in msgs)
    chunks = data.draw(split_points(stream))
    dec = MessageDecoder(max_size=300)
    out: list[bytes] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    assert out == msgs
    assert dec.buffered == 0


@given(st.data(), st.lists(st.tuples(st.booleans(), st.binary(max_size=200)), max_size=8))
def test_any_split_of_mixed_gzip_and_plain_messages(
    data: st.DataObject, msgs: list[tuple[bool, bytes]]
) -> None:
    stream = b"".join(
        b"\x01" + len(z := gzip.compress(m, mtime=0)).to_bytes(4, "big") + z if zipped
        else encode_message(m)
        for zipped, m in msgs
    )
    dec = MessageDecoder(encoding="gzip")
    out: list[bytes] = []
    for chunk in data.draw(split_points(stream)):
        out += dec.feed(chunk)
    assert out == [m for _, m in msgs]


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=6), st.sampled_from([None, "gzip", "deflate"]))
def test_random_bytes_raise_only_documented_errors(
    chunks: list[bytes], encoding: str | None
) -> None:
    dec = MessageDecoder(max_size=1000, encoding=encoding)
    try:
        for chunk in chunks:
            for msg in dec.feed(chunk):
                assert isinstance(msg, bytes) and len(msg) <= 1000
    except (MessageTooLarge, ProtocolViolation):
        pass
