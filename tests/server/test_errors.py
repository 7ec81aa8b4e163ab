"""Per-request failures become status replies; the stream and connection survive."""

from __future__ import annotations

import logging

import pytest
from _server_kit import address_of, raw_node_stream, running
from google.protobuf import any_pb2

import gorums_h2 as g
from gorums_h2.codec import encode
from gorums_h2.codec.envelope import encode_metadata, encode_method_field, encode_varint
from gorums_h2.testing import ECHO_QC, ECHO_RPC, ECHO_UNICAST, Echo

pytestmark = pytest.mark.anyio

DETAIL = any_pb2.Any(type_url="type.googleapis.com/test.Detail", value=b"\x08\x01")


def failing_server() -> g.Server:
    """ECHO_RPC: value "status" -> StatusError, "crash" -> RuntimeError, else echo."""
    server = g.Server()

    async def handler(ctx: g.ServerCtx, req: Echo) -> Echo:
        if req.value == "status":
            raise g.StatusError(g.StatusCode.FAILED_PRECONDITION, "not now", [DETAIL])
        if req.value == "crash":
            raise RuntimeError("handler exploded")
        return Echo(value=req.value)

    server.register_handler(ECHO_RPC, g.unary_handler(handler))
    return server


async def test_status_error_goes_into_the_reply_metadata_and_the_stream_stays_open() -> None:
    async with running(failing_server()) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="status"), entries=[("k", "v")])
        raw.send(2, ECHO_RPC, Echo(value="ok"))
        err, ok = await raw.receive_n(2)
    assert (err.seq, err.md.method, err.entries) == (1, ECHO_RPC, [("k", "v")])
    assert (err.code, err.message) == (g.StatusCode.FAILED_PRECONDITION, "not now")
    assert list(err.md.status.details) == [DETAIL]
    assert err.payload == b""
    assert (ok.seq, ok.code, Echo.FromString(ok.payload).value) == (2, 0, "ok")


async def test_other_exceptions_become_unknown_and_are_logged_with_the_method(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="gorums_h2.server")
    async with running(failing_server()) as address, raw_node_stream(address) as raw:
        raw.send(1, ECHO_RPC, Echo(value="crash"))
        raw.send(2, ECHO_RPC, Echo(value="ok"))
        err, ok = await raw.receive_n(2)
    assert (err.seq, err.code, err.message, err.payload) == (
        1, g.StatusCode.UNKNOWN, "handler exploded", b"")
    assert ok.seq == 2 and ok.code == 0
    records = [r for r in caplog.records if r.name == "gorums_h2.server"]
    assert len(records) == 1
    assert ECHO_RPC in records[0].getMessage()
    assert records[0].exc_info is not None and "handler exploded" in str(records[0].exc_info[1])


async def test_a_gorums_client_gets_the_status_error() -> None:
    async with running(failing_server()) as address, g.Manager() as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        with pytest.raises(g.StatusError) as info:
            await g.rpc_call(node.context(), Echo(value="status"), ECHO_RPC, Echo)
        assert (info.value.code, info.value.message) == (
            g.StatusCode.FAILED_PRECONDITION, "not now")
        with pytest.raises(g.StatusError) as info:
            await g.rpc_call(node.context(), Echo(value="crash"), ECHO_RPC, Echo)
        assert info.value == g.StatusError(g.StatusCode.UNKNOWN, "handler exploded")
        assert (await g.rpc_call(node.context(), Echo(value="x"), ECHO_RPC, Echo)).value == "x"


async def test_unknown_methods_get_unimplemented_for_that_message_only() -> None:
    async with running(failing_server()) as address, raw_node_stream(address) as raw:
        raw.send(1, "no.Such.Method", Echo(value="a"), entries=[("k", "v")])
        raw.send(2, ECHO_QC, Echo(value="b"))  # in the pool, not registered here
        raw.send(3, ECHO_UNICAST, Echo(value="c"))  # one-way, not registered: still answered
        raw.send(4, ECHO_RPC, Echo(value="ok"))
        replies = await raw.receive_n(4)
    assert [(r.seq, r.code, r.md.method) for r in replies] == [
        (1, g.StatusCode.UNIMPLEMENTED, "no.Such.Method"),
        (2, g.StatusCode.UNIMPLEMENTED, ECHO_QC),
        (3, g.StatusCode.UNIMPLEMENTED, ECHO_UNICAST),
        (4, 0, ECHO_RPC)]
    assert replies[0].message == "unknown method no.Such.Method"
    assert replies[0].entries == [("k", "v")]
    assert replies[1].message == f"unknown method {ECHO_QC}"
    assert all(r.payload == b"" for r in replies[:3])


def _md(seq: int, method: str = ECHO_RPC) -> bytes:
    return encode_metadata(seq, encode_method_field(method))


BAD_BODIES = {
    # the metadata is readable: the reply names the request
    "message length past the end": (
        encode_varint(len(_md(5))) + _md(5) + encode_varint(10) + b"abc", 5),
    "bytes after the message": (encode(_md(6), b"") + b"junk", 6),
    "bad protobuf payload": (encode(_md(7), b"\x0a\x05ab"), 7),
    # nothing readable: no reply
    "empty body": (b"", None),
    "truncated varint": (b"\xff", None),
    "metadata length past the end": (encode_varint(50) + b"\x08\x01", None),
    "metadata not protobuf": (encode(b"\x08", b""), None),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
async def test_undecodable_requests_are_answered_when_possible_and_the_stream_survives(
        case: str, caplog: pytest.LogCaptureFixture) -> None:
    body, seq = BAD_BODIES[case]
    caplog.set_level(logging.WARNING, logger="gorums_h2.server")
    async with running(failing_server()) as address, raw_node_stream(address) as raw:
        raw.send_body(body)
        raw.send(100, ECHO_RPC, Echo(value="ok"))
        first = await raw.receive()
        if seq is None:
            assert first.seq == 100 and first.code == 0
            assert any("undecodable" in r.getMessage() for r in caplog.records)
        else:
            assert (first.seq, first.md.method, first.code) == (
                seq, ECHO_RPC, g.StatusCode.INTERNAL)
            assert first.payload == b""
            assert (await raw.receive()).seq == 100
        assert raw.nothing_pending()
        # the connection is still good for more
        raw.send(101, ECHO_RPC, Echo(value="again"))
        assert (await raw.receive()).seq == 101
