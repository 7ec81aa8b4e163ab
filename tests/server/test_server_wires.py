"""One server, two wires: per-path content types, serving only one wire, per-wire rules."""

from __future__ import annotations

import pytest
from _server_kit import raw_node_stream, running

import gorums_h2 as g
from gorums_h2.codec import ORDERING, STREAM, Envelope
from gorums_h2.testing import ECHO_RPC, Echo, EchoService, register_echo_service

pytestmark = pytest.mark.anyio


def echo_server(**options: object) -> g.Server:
    server = g.Server(**options)  # type: ignore[arg-type]
    register_echo_service(server, EchoService())
    return server


def request(wire: g.WireProtocol, seq: int, value: str) -> bytes:
    return wire.encode(Envelope(seq, ECHO_RPC, Echo(value=value).SerializeToString(),
                                entries=[("k", "v")]))


@pytest.mark.parametrize(("wire", "subtype", "served"), [
    (ORDERING, "gorums", True),
    (ORDERING, None, False),     # v0.11's codec needs +gorums (Go: INTERNAL at the first message)
    (ORDERING, "proto", False),
    (STREAM, None, True),
    (STREAM, "proto", True),
    (STREAM, "gorums", True),    # master serves it too (probe 5)
    (STREAM, "json", False),
], ids=lambda v: getattr(v, "name", repr(v)))
async def test_content_type_is_checked_per_path(wire: g.WireProtocol, subtype: str | None,
                                                served: bool) -> None:
    async with running(echo_server()) as address, raw_node_stream(
            address, wire=wire, subtype=subtype) as raw:
        raw.send_body(request(wire, 1, "x"))
        if served:
            env, _ = await raw.receive_env()
            assert (env.seq, Echo.FromString(env.payload).value) == (1, "x")
            return
        with pytest.raises(g.StatusError) as info:
            await raw.receive_env()
    assert info.value.code == g.StatusCode.INTERNAL
    assert info.value.message.startswith(f"{wire.path} takes content-type application/grpc")


async def test_a_server_of_one_wire_refuses_the_other_naming_what_it_serves() -> None:
    async with running(echo_server(wires=["ordering"])) as address, raw_node_stream(
            address, wire=STREAM) as raw:
        raw.send_body(request(STREAM, 1, "x"))
        with pytest.raises(g.StatusError) as info:
            await raw.receive_env()
    assert info.value.code == g.StatusCode.UNIMPLEMENTED
    assert info.value.message.startswith("unknown service stream.Gorums")
    assert "'ordering' (/ordering.Gorums/NodeStream, Go Gorums v0.11)" in info.value.message


async def test_each_wire_keeps_its_own_rules_on_one_server() -> None:
    connects: list[g.NodeStreamInfo] = []
    async with running(echo_server(connect_callback=connects.append)) as address:
        for wire in (ORDERING, STREAM):
            async with raw_node_stream(address, wire=wire) as raw:
                raw.send_body(request(wire, 1, "a"))
                raw.send_body(wire.encode(Envelope(2, "no.Such.Method", b"", entries=[("k", "v")])))
                raw.send_body(wire.encode(Envelope(3, ECHO_RPC, b"\xff")))  # bad payload
                raw.send_body(request(wire, 4, "b"))
                replies = [(await raw.receive_env())[0] for _ in range(4)]
            ok, unknown, bad, after = replies
            assert (ok.seq, ok.status, Echo.FromString(ok.payload).value) == (1, None, "a")
            assert (after.seq, after.status) == (4, None)  # the stream stayed open
            # entries: echoed by v0.11's wire only
            assert ok.entries == unknown.entries == ([("k", "v")] if wire is ORDERING else [])
            assert unknown.status is not None and unknown.status.code == 12
            assert bad.status is not None and bad.payload == b""
            if wire is STREAM:  # master's texts and codes
                assert unknown.status.message == "no handler registered for method no.Such.Method"
                assert bad.status.code == g.StatusCode.UNKNOWN
                assert bad.status.message.startswith("gorums: could not unmarshal request: ")
            else:
                assert unknown.status.message == "unknown method no.Such.Method"
                assert bad.status.code == g.StatusCode.INTERNAL
    assert [c.wire for c in connects] == ["ordering", "stream"]
