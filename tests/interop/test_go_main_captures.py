"""Golden tests on the Go Gorums master captures (the ``stream`` wire).

``go-main-client-server`` (the nine-step script), ``go-main-server-probes``
(raw HTTP/2 probes of a master server) and ``go-main-reverse-call`` (a
server-initiated call) are read independently of gorums_h2 (tests/_capture.py)
and checked against their ``-decoded.txt`` listings; then gorums_h2's
``stream`` wire has to agree with Go: every ``stream.Message`` decodes to the
listed fields and re-encodes to the same bytes (our encoder keeps the entry
order it is given; Go's per-call order is random, so the decoded order is
used), the v0.11-framed probe messages are refused by the stream wire, and the
header blocks are the ones our builders make.
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

from gorums_h2.codec import ORDERING, SERVER_CALL_BIT, STREAM, Envelope, EnvelopeError
from gorums_h2.pb import stream_pb2
from gorums_h2.wire.headers import (
    Headers,
    build_request_headers,
    build_response_headers,
    build_trailers,
    parse_trailers,
    validate_request_headers,
)
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.status import StatusCode, StatusError, escape_peer_text

CAPTURES = ["go-main-client-server", "go-main-server-probes", "go-main-reverse-call"]
FIXED = {":method", ":scheme", ":path", ":authority", "content-type", "user-agent", "te"}


@lru_cache
def _capture(name: str) -> tuple[dict[int, Connection], dict[int, DecodedConnection]]:
    return load_connections(name), load_decoded(name)


CASES = [(name, n) for name in CAPTURES for n in sorted(_capture(name)[0])]
IDS = [f"{name.removeprefix('go-main-')}-conn{n}" for name, n in CASES]


def _frames(name: str, n: int, direction: str) -> list:  # type: ignore[type-arg]
    return deframe(_capture(name)[0][n].data[direction], client=direction == "c2s")


def _as_bytes(headers: list[tuple[str, str]]) -> Headers:
    return [(k.encode(), v.encode()) for k, v in headers]


def test_captures_hold_the_expected_connections() -> None:
    assert len(CASES) == 3 + 8 + 3


# ---- the capture reader agrees with the listing ----


@pytest.mark.parametrize(("name", "n"), CASES, ids=IDS)
@pytest.mark.parametrize("direction", ["c2s", "s2c"])
def test_frames_headers_and_messages_match_the_listing(name: str, n: int, direction: str) -> None:
    frames = _frames(name, n, direction)
    listed = _capture(name)[1][n]
    assert [frame_summary(f) for f in frames] == listed.frames[direction]
    blocks = header_blocks(frames)
    assert [(b.headers, b.fragment.hex()) for b in blocks] == [
        (h, x) for _, h, x in listed.headers[direction]]
    per_stream = grpc_messages(frames)
    assert set(per_stream) <= {1}
    messages = per_stream.get(1, [])
    assert all(flag == 0 for flag, _ in messages)
    assert [body for _, body in messages] == [m.body for m in listed.messages[direction]]


# ---- every stream.Message: decode, fields as listed, re-encode to the same bytes ----

GO_CODE_NAMES = [
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
    "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
    "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
]


def _listing_of(env: Envelope) -> list[str]:
    """The ``-> field`` lines the listing shows for ``env`` (annotations cut)."""
    out = [f"field 1 message_seq_no: {env.seq}"] if env.seq else []
    if env.method:
        out.append(f"field 2 method: {env.method!r}")
    if env.status is not None:
        st = env.status
        out.append(f"field 3 status: google.rpc.Status{{code: {int(st.code)}, "
                   f"message: {st.message!r}}}   [code {int(st.code)} = "
                   f"{GO_CODE_NAMES[st.code]}]")
    out += [f"field 4 entry: stream.MetadataEntry{{key: {k!r}, value: {v!r}}}"
            for k, v in env.entries]
    if env.payload:
        out.append(f"field 5 payload: {len(env.payload)} bytes")
    return out


def _all_messages() -> list[tuple[str, int, str, int]]:
    return [(name, n, d, i) for name, n in CASES for d in ("c2s", "s2c")
            for i in range(len(_capture(name)[1][n].messages[d]))]


MESSAGES = _all_messages()
MESSAGE_IDS = [f"{a.removeprefix('go-main-')}-{b}-{c}-{d}" for a, b, c, d in MESSAGES]


def test_every_listed_message_is_covered() -> None:
    # the listings: 39 (client-server), 27 (probes, 2 of them v0.11-framed), 4 (reverse call)
    assert len(MESSAGES) == 39 + 27 + 4
    assert sum(_capture(n)[1][c].messages[d][i].invalid for n, c, d, i in MESSAGES) == 2


@pytest.mark.parametrize(("name", "n", "direction", "i"), MESSAGES, ids=MESSAGE_IDS)
def test_stream_message_decodes_and_reencodes_identically(
    name: str, n: int, direction: str, i: int
) -> None:
    listed = _capture(name)[1][n].messages[direction][i]
    if listed.invalid:
        # v0.11 framing sent to a master server (probe 4): not a stream.Message,
        # but exactly a v0.11 envelope
        with pytest.raises(EnvelopeError):
            STREAM.decode(listed.body)
        assert ORDERING.decode(listed.body).method == "proto.Storage.ReadRPC"
        return
    env = STREAM.decode(listed.body)
    if env.status is not None:
        # a peer's status text reaches users escaped (wire/status.py,
        # escape_peer_text: Go's U+00A0 after "proto:" shows as \xa0); the
        # listing and the bytes have the raw text, which protobuf gives here
        raw = stream_pb2.Message.FromString(listed.body).status.message
        assert env.status.message == escape_peer_text(raw)
        env.status = StatusError(env.status.code, raw)
    fields = [f.split(" (= 1<<63")[0] for f in listed.fields]
    assert _listing_of(env) == fields
    assert env.payload == (listed.payload_bytes or b"")
    assert STREAM.encode(env) == listed.body
    if env.status is None and not env.entries:
        # a reply (or a request without entries): what our server would send
        assert STREAM.encode_reply(env, env.payload) == listed.body


def test_golden_bytes_of_the_wire_doc() -> None:
    # go-main-wire.md section 3: step 1's request and reply, step 8's error
    step1 = STREAM.frame(
        STREAM.request_header(1, b"\x12\x16proto.Storage.WriteRPC",
                              b'"\r\n\x08msg-step\x12\x011"\x14\n\x07msg-key\x12\tmsg-value'),
        bytes.fromhex("0a077270632d6b657912097270632d76616c75651a060881e2cfaa06"))
    assert step1 == _capture("go-main-client-server")[1][1].messages["c2s"][0].body
    request = STREAM.decode(step1)
    assert STREAM.encode_reply(request, b"\x08\x01") == (
        b"\x08\x01\x12\x16proto.Storage.WriteRPC\x2a\x02\x08\x01")
    err = StatusError(StatusCode.FAILED_PRECONDITION, 'key "fail" is rejected')
    assert STREAM.encode_error(Envelope(8, "proto.Storage.ReadRPC", b"", None, [("a", "b")]),
                               err) == (b"\x08\x08\x12\x15proto.Storage.ReadRPC\x1a\x1a\x08\x09"
                                        b'\x12\x16key "fail" is rejected')
    # server-initiated IDs: bit 63, a 10-byte varint
    call = STREAM.decode(bytes.fromhex("0881808080808080808001") + b"\x12\x04a.b.")
    assert call.seq == SERVER_CALL_BIT | 1 and STREAM.is_server_call_id(call.seq)
    assert not ORDERING.is_server_call_id(call.seq)


# ---- header blocks ----


def _blocks(kind: str, names: list[str] = CAPTURES
            ) -> list[tuple[str, int, list[tuple[str, str]]]]:
    return [(name, n, h) for name in names for n in sorted(_capture(name)[0])
            for d in ("c2s", "s2c")
            for k, h, _ in _capture(name)[1][n].headers[d] if k.startswith(kind)]


def test_request_heads_are_ours_apart_from_user_agent() -> None:
    heads = _blocks("REQUEST HEADERS", ["go-main-client-server", "go-main-reverse-call"])
    assert len(heads) == 6
    for name, _, headers in heads:
        head = validate_request_headers(_as_bytes(headers))
        assert (head.path, head.subtype, head.timeout) == (STREAM.path, "", None)
        custom = [(k, v) for k, v in headers if k not in FIXED]
        assert ("gorums-node-id", "0" ) in custom if name.endswith("reverse-call") else (
            all(k != "gorums-node-id" for k, _ in custom))
        assert STREAM.offers_back_channel(head.metadata) == name.endswith("reverse-call")
        # ours: the same block (grpc-go's order; only user-agent differs)
        ours = build_request_headers(head.path, head.authority, subtype=STREAM.subtype,
                                     metadata=Metadata(custom))
        assert [(k, v) for k, v in ours if k != b"user-agent"] == [
            (k, v) for k, v in _as_bytes(headers) if k != b"user-agent"]


def test_response_headers_are_byte_for_byte_ours() -> None:
    responses = _blocks("RESPONSE HEADERS")
    assert responses
    for _, _, headers in responses:
        ctype = dict(headers)["content-type"]
        subtype = ctype.partition("+")[2] or None
        assert _as_bytes(headers) == build_response_headers(subtype)


@pytest.mark.parametrize(
    ("n", "code", "message"),
    [(3, StatusCode.UNIMPLEMENTED, "unknown service ordering.Gorums"),
     (4, StatusCode.INTERNAL, "grpc: failed to unmarshal the received message: "
      "proto:\xa0cannot parse invalid wire-format data")],
)
def test_stream_level_refusals_parse_and_match_our_builder(
    n: int, code: StatusCode, message: str
) -> None:
    blocks = [h for k, h, _ in _capture("go-main-server-probes")[1][n].headers["s2c"]
              if k.startswith("TRAILERS-ONLY")]
    assert len(blocks) == 1
    go = _as_bytes(blocks[0])
    err, md = parse_trailers(go)
    assert err == StatusError(code, escape_peer_text(message)) and not md  # \xa0 escaped
    ctype = dict(go)[b"content-type"].decode()
    assert build_response_headers(ctype.partition("+")[2] or None) + build_trailers(
        code, message) == go


def test_half_close_trailers_parse() -> None:
    trailers = _blocks("TRAILERS (END_STREAM)", ["go-main-server-probes"])
    assert trailers
    for _, _, headers in trailers:
        assert parse_trailers(_as_bytes(headers))[0] == StatusError(StatusCode.UNKNOWN, "EOF")
