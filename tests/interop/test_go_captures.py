"""Golden tests on the Go Gorums v0.11 wire captures (/work/shared/interop).

The captures are read independently of gorums_h2 (hyperframe, hpack, a tiny
gRPC de-framer: see tests/_capture.py) and checked against the frame-by-frame
listing in the ``-decoded.txt`` files. Then gorums_h2 has to agree with Go:
every gorums message decodes to what the listing says and re-encodes to the
same bytes, our header builders produce Go's blocks, and our sans-IO cores
accept the Go peers' byte streams as they are.
"""

from __future__ import annotations

from functools import lru_cache

import pytest
from _capture import (
    Connection,
    DecodedConnection,
    deframe,
    frame_summary,
    grpc_messages,
    header_blocks,
    load_connections,
    load_decoded,
)
from _storage_schema import storage_pool
from google.protobuf.message import Message

from gorums_h2.codec import UnknownMethodError, decode_full, encode, lookup_method
from gorums_h2.codec.envelope import (
    encode_entries,
    encode_metadata,
    encode_method_field,
    encode_status_field,
)
from gorums_h2.wire.errors import StreamReset
from gorums_h2.wire.headers import (
    Headers,
    build_request_headers,
    build_response_headers,
    build_trailers,
    parse_trailers,
    validate_request_headers,
)
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.protocol import ConnectionCore, StreamCore
from gorums_h2.wire.status import StatusCode, StatusError

CAPTURES = ["go-v0.11-client-server", "go-v0.11-server-probes"]


@lru_cache
def _capture(name: str) -> tuple[dict[int, Connection], dict[int, DecodedConnection]]:
    return load_connections(name), load_decoded(name)


CASES = [(name, n) for name in CAPTURES for n in sorted(_capture(name)[0])]
IDS = [f"{name.removeprefix('go-v0.11-')}-conn{n}" for name, n in CASES]


def _frames(name: str, n: int, direction: str) -> list:  # type: ignore[type-arg]
    return deframe(_capture(name)[0][n].data[direction], client=direction == "c2s")


def _as_bytes(headers: list[tuple[str, str]]) -> Headers:
    return [(k.encode(), v.encode()) for k, v in headers]


def test_captures_hold_the_expected_connections() -> None:
    assert len(CASES) == 8
    conns, decoded = _capture("go-v0.11-client-server")
    assert sorted(conns) == sorted(decoded) == [1, 2, 3]


# ---- the capture reader agrees with the listing ----


@pytest.mark.parametrize(("name", "n"), CASES, ids=IDS)
@pytest.mark.parametrize("direction", ["c2s", "s2c"])
def test_frames_match_the_listing(name: str, n: int, direction: str) -> None:
    listed = _capture(name)[1][n].frames[direction]
    assert [frame_summary(f) for f in _frames(name, n, direction)] == listed
    assert listed


@pytest.mark.parametrize(("name", "n"), CASES, ids=IDS)
@pytest.mark.parametrize("direction", ["c2s", "s2c"])
def test_header_blocks_decode_as_listed(name: str, n: int, direction: str) -> None:
    blocks = header_blocks(_frames(name, n, direction))
    listed = _capture(name)[1][n].headers[direction]
    assert [(b.headers, b.fragment.hex()) for b in blocks] == [(h, x) for _, h, x in listed]


@pytest.mark.parametrize(("name", "n"), CASES, ids=IDS)
@pytest.mark.parametrize("direction", ["c2s", "s2c"])
def test_grpc_messages_reassemble_as_listed(name: str, n: int, direction: str) -> None:
    per_stream = grpc_messages(_frames(name, n, direction))
    assert set(per_stream) <= {1}
    messages = per_stream.get(1, [])
    assert all(flag == 0 for flag, _ in messages)  # Go sends nothing compressed
    assert [body for _, body in messages] == [
        m.body for m in _capture(name)[1][n].messages[direction]]


# ---- gorums_h2's codec agrees with Go ----

GO_CODE_NAMES = [
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
    "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
    "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
]


def show(msg: Message) -> str:
    """A message in the listing's notation: ``pkg.Type{field: value, ...}``."""
    parts = []
    for fd, value in msg.ListFields():
        for v in value if fd.is_repeated else [value]:
            if fd.message_type is not None:
                text = show(v)
            elif msg.DESCRIPTOR.full_name == "google.rpc.Status" and fd.name == "code":
                text = f"{v} ({GO_CODE_NAMES[v]})"
            else:
                text = repr(v)
            parts.append(f"{fd.name}: {text}")
    return f"{msg.DESCRIPTOR.full_name}{{{', '.join(parts)}}}"


def _all_messages() -> list[tuple[str, int, str, int]]:
    return [(name, n, d, i) for name, n in CASES for d in ("c2s", "s2c")
            for i in range(len(_capture(name)[1][n].messages[d]))]


MESSAGES = _all_messages()
MESSAGE_IDS = [f"{a.removeprefix('go-v0.11-')}-{b}-{c}-{d}" for a, b, c, d in MESSAGES]


def test_every_listed_message_is_covered() -> None:
    # the listings' summaries: 21 + 18 gorums messages (client-server), 6 + 3 (probes)
    assert len(MESSAGES) == 48


@pytest.mark.parametrize(("name", "n", "direction", "i"), MESSAGES, ids=MESSAGE_IDS)
def test_gorums_message_decodes_and_reencodes_identically(
    name: str, n: int, direction: str, i: int
) -> None:
    listed = _capture(name)[1][n].messages[direction][i]
    md, _, payload = decode_full(listed.body)
    assert show(md) == listed.metadata
    status = (encode_status_field(md.status.code, md.status.message, md.status.details)
              if md.HasField("status") else b"")
    meta = encode_metadata(md.message_seq_no, encode_method_field(md.method), status,
                           encode_entries((e.key, e.value) for e in md.entry))
    assert encode(meta, payload) == listed.body
    try:
        info = lookup_method(md.method, storage_pool())
    except UnknownMethodError:
        assert listed.payload.startswith("?{")  # the probe's made-up method
        return
    cls = info.request_type if direction == "c2s" else info.response_type
    msg = cls.FromString(payload)
    assert show(msg) == listed.payload
    assert msg.SerializeToString() == payload


def test_issue_vector_structure() -> None:
    # [7, 8,1, 18,3,'f','o','o', 0]: metadata of 7 bytes (seq 1, method "foo"), empty message
    md, _, msg = decode_full(bytes([7, 8, 1, 18, 3]) + b"foo" + bytes([0]))
    assert (md.message_seq_no, md.method, md.HasField("status"), list(md.entry), msg) == (
        1, "foo", False, [], b"")


# ---- gorums_h2's header handling agrees with Go ----


def _blocks(kind: str) -> list[tuple[str, int, list[tuple[str, str]]]]:
    return [(name, n, h) for name, n in CASES for d in ("c2s", "s2c")
            for k, h, _ in _capture(name)[1][n].headers[d] if k.startswith(kind)]


def test_request_heads_validate_like_go_sent_them() -> None:
    heads = _blocks("REQUEST HEADERS")
    assert len(heads) == 8
    for name, _, headers in heads:
        head = validate_request_headers(_as_bytes(headers))
        assert head.path in ("/ordering.Gorums/NodeStream", "/ordering.Gorums/Nope")
        if name.endswith("client-server"):
            assert head.subtype == "gorums" and head.timeout is None
            assert head.metadata["client-name"] == "go-storage-client"
            assert head.metadata["stream-key"] == "stream-value"
            # ours: the same fixed part in the same order (only user-agent differs)
            custom = [(k, v) for k, v in headers[7:]]
            ours = build_request_headers(head.path, head.authority, subtype="gorums",
                                         metadata=Metadata(custom))
            assert [(k, v) for k, v in ours if k != b"user-agent"] == [
                (k, v) for k, v in _as_bytes(headers) if k != b"user-agent"]


def test_response_headers_are_byte_for_byte_ours() -> None:
    responses = _blocks("RESPONSE HEADERS")
    assert len(responses) == 5
    for _, _, headers in responses:
        assert _as_bytes(headers) == build_response_headers("gorums")


@pytest.mark.parametrize(
    ("n", "code", "message"),
    [(2, StatusCode.INTERNAL, "grpc: failed to unmarshal the received message: gorums: could "
      "not find method descriptor for proto.Storage.NoSuchMethod"),
     (3, StatusCode.INTERNAL, "grpc: failed to unmarshal the received message: failed to "
      "unmarshal, message is *gorums.Message, want proto.Message"),
     (4, StatusCode.UNIMPLEMENTED, "unknown method Nope for service ordering.Gorums")],
)
def test_trailers_only_responses_parse_and_match_our_builder(
    n: int, code: StatusCode, message: str
) -> None:
    blocks = [h for k, h, _ in _capture("go-v0.11-server-probes")[1][n].headers["s2c"]
              if k.startswith("TRAILERS-ONLY")]
    assert len(blocks) == 1
    go = _as_bytes(blocks[0])
    err, md = parse_trailers(go)
    assert err == StatusError(code, message) and not md
    ctype = dict(go)[b"content-type"].decode()
    subtype = ctype.partition("+")[2] or None
    assert build_response_headers(subtype) + build_trailers(code, message) == go


def test_trailers_after_messages_parse() -> None:
    trailers = _blocks("TRAILERS (END_STREAM)")
    assert len(trailers) == 2
    for _, _, headers in trailers:
        err, _ = parse_trailers(_as_bytes(headers))
        assert err == StatusError(StatusCode.UNKNOWN, "EOF")
        assert _as_bytes(headers) == build_trailers(StatusCode.UNKNOWN, "EOF")


# ---- our sans-IO cores accept the Go peers' byte streams ----


@pytest.mark.parametrize(("name", "n"), CASES, ids=IDS)
def test_our_server_core_accepts_the_go_client_bytes(name: str, n: int) -> None:
    conn, listed = _capture(name)[0][n], _capture(name)[1][n]
    core = ConnectionCore(client_side=False)
    requests: list[tuple[StreamCore, Headers]] = []
    core.on_request = lambda stream, headers: requests.append((stream, headers))
    core.initiate()
    core.receive_data(conn.data["c2s"])
    assert core.error is None
    assert len(requests) == 1
    stream, headers = requests[0]
    validate_request_headers(headers)
    got = []
    while stream.has_message:
        got.append(stream.pop_message())
    assert got == [m.body for m in listed.messages["c2s"]]
    # what the client did at the end: half-close (probes) or RST_STREAM CANCEL (Go client)
    if name.endswith("client-server"):
        with pytest.raises(StreamReset) as info:
            stream.pop_message()
        assert info.value.code == StatusCode.CANCELLED
    assert core.goaway is not None and core.goaway.h2_code == 0


PROBE_OUTCOMES = {
    1: StatusError(StatusCode.UNKNOWN, "EOF"),
    2: StatusError(StatusCode.INTERNAL, "grpc: failed to unmarshal the received message: "
                   "gorums: could not find method descriptor for proto.Storage.NoSuchMethod"),
    3: StatusError(StatusCode.INTERNAL, "grpc: failed to unmarshal the received message: "
                   "failed to unmarshal, message is *gorums.Message, want proto.Message"),
    4: StatusError(StatusCode.UNIMPLEMENTED, "unknown method Nope for service ordering.Gorums"),
    5: StatusError(StatusCode.UNKNOWN, "EOF"),
}


@pytest.mark.parametrize(("name", "n"), CASES, ids=IDS)
def test_our_client_core_accepts_the_go_server_bytes(name: str, n: int) -> None:
    conn, listed = _capture(name)[0][n], _capture(name)[1][n]
    core = ConnectionCore(client_side=True)
    core.initiate()
    stream = core.open_stream(build_request_headers("/ordering.Gorums/NodeStream",
                                                    "127.0.0.1:29200", subtype="gorums"))
    core.data_to_send()
    core.receive_data(conn.data["s2c"])
    assert core.error is None
    got = []
    while stream.has_message:
        got.append(stream.pop_message())
    assert got == [m.body for m in listed.messages["s2c"]]
    if name.endswith("client-server"):
        assert stream.end_error is None  # the Go client cancelled; the server never ended it
        assert stream.initial_metadata == Metadata()
    else:
        with pytest.raises(StatusError) as info:
            stream.pop_message()
        assert info.value == PROBE_OUTCOMES[n]
    # the server's BDP pings were answered
    acks = [f for f in deframe(core.data_to_send(), client=False)
            if type(f).__name__ == "PingFrame" and "ACK" in f.flags]
    pings = [f for f in _frames(name, n, "s2c")
             if type(f).__name__ == "PingFrame" and "ACK" not in f.flags]
    assert len(acks) == len(pings) > 0
    assert {bytes(f.opaque_data) for f in acks} == {bytes.fromhex("02041010090e0707")}
