from gorums_h2.codec import decode_full, encode
from gorums_h2.codec.envelope import encode_metadata, encode_method_field


def test_issue_vector_roundtrip() -> None:
    body = bytes([7, 8, 1, 18, 3]) + b"foo" + bytes([0])
    assert encode(encode_metadata(1, encode_method_field("foo")), b"") == body
    md, _, msg = decode_full(body)
    assert (md.message_seq_no, md.method, msg) == (1, "foo", b"")
