"""Replay Go Gorums master's client bytes (the ``stream`` wire) against OUR server.

* ``go-main-client-server``: for each of the three connections, open
  ``/stream.Gorums/NodeStream`` with the Go client's stream headers, send the
  exact bytes of every ``stream.Message`` the Go client sent, and check that
  our server answers as the master server did: same IDs in the same order, the
  method echoed, no entries, errors in ``status`` without a payload, no reply
  to the multicast; with handlers that use master's error texts the replies
  are Go's bytes exactly.
* ``go-main-server-probes``: the raw probes' requests (same path,
  content-type and headers), with Go's replies compared in structure (IDs,
  methods, status codes, payloads); and the stream-level refusals.

Probe 7's rule for unknown high-bit IDs is checked here; its server-initiated
ReadQC inside ReadNestedQC is in test_back_channel_golden.py.
"""

from __future__ import annotations

from functools import lru_cache

import pytest
from _capture import deframe, grpc_messages, header_blocks, load_connections
from _server_kit import raw_node_stream, running
from google.protobuf.timestamp_pb2 import Timestamp

import gorums_h2 as g
from gorums_h2.codec import SERVER_CALL_BIT, STREAM, Envelope
from gorums_h2.examples.storage import storage_pb2 as pb
from gorums_h2.examples.storage.server import new_storage_server

pytestmark = pytest.mark.anyio

FIXED = {":method", ":scheme", ":path", ":authority", "content-type", "user-agent", "te"}


@lru_cache(maxsize=2)
def _connections(name: str) -> dict[int, tuple[list[tuple[str, str]], list[bytes], list[bytes]]]:
    """Per connection: (request headers, client messages, server messages)."""
    out = {}
    for n, conn in load_connections(name).items():
        c2s = deframe(conn.data["c2s"], client=True)
        s2c = deframe(conn.data["s2c"], client=False)
        request = header_blocks(c2s)[0].headers
        sent = [body for _, body in grpc_messages(c2s).get(1, [])]
        got = [body for _, body in grpc_messages(s2c).get(1, [])]
        out[n] = (request, sent, got)
    return out


def _custom(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k not in FIXED]


def _newer(a: Timestamp, b: Timestamp) -> bool:
    return (a.seconds, a.nanos) > (b.seconds, b.nanos)


class MasterStorage:
    """The rules of master's storage server (go-main-wire.md), with its error texts."""

    def __init__(self) -> None:
        self.store: dict[str, pb.WriteRequest] = {}
        self.multicasts: list[str] = []

    @staticmethod
    def check(key: str) -> None:
        if key == "fail":
            raise g.StatusError(g.StatusCode.FAILED_PRECONDITION, 'key "fail" is rejected')
        if key == "fail-plain":
            raise ValueError('plain error: key "fail-plain" is rejected')

    async def read(self, ctx: g.ServerCtx, req: pb.ReadRequest) -> pb.ReadResponse:
        self.check(req.key)
        stored = self.store.get(req.key)
        if stored is None:
            return pb.ReadResponse(OK=False)
        return pb.ReadResponse(OK=True, value=stored.value, time=stored.time)

    async def write(self, ctx: g.ServerCtx, req: pb.WriteRequest) -> pb.WriteResponse:
        self.check(req.key)
        stored = self.store.get(req.key)
        if stored is not None and _newer(stored.time, req.time):
            return pb.WriteResponse(new=False)
        self.store[req.key] = req
        return pb.WriteResponse(new=True)

    async def write_multicast(self, ctx: g.ServerCtx, req: pb.WriteRequest) -> None:
        self.multicasts.append(req.key)
        await self.write(ctx, req)


def master_storage_server(connects: list[g.NodeStreamInfo], **options: object) -> g.Server:
    storage = MasterStorage()
    server = g.Server(connect_callback=connects.append, **options)  # type: ignore[arg-type]
    server.register_handler("proto.Storage.ReadRPC", g.unary_handler(storage.read))
    server.register_handler("proto.Storage.ReadQC", g.unary_handler(storage.read))
    server.register_handler("proto.Storage.WriteRPC", g.unary_handler(storage.write))
    server.register_handler("proto.Storage.WriteQC", g.unary_handler(storage.write))
    server.register_handler("proto.Storage.WriteMulticast",
                            g.one_way_handler(storage.write_multicast))
    server.storage = storage  # type: ignore[attr-defined]
    return server


def example_storage_server(connects: list[g.NodeStreamInfo]) -> g.Server:
    return new_storage_server(connect_callback=connects.append)


def _same_structure(ours: Envelope, go: Envelope, *, texts: bool) -> None:
    assert (ours.seq, ours.method, ours.entries) == (go.seq, go.method, [])
    if go.status is None:
        assert ours.status is None
        assert ours.payload == go.payload
    else:
        assert ours.status is not None and ours.status.code == go.status.code
        assert ours.payload == b""
        if texts:
            assert ours.status.message == go.status.message


@pytest.mark.parametrize("conn", [1, 2, 3])
@pytest.mark.parametrize("make_server", [master_storage_server, example_storage_server],
                         ids=["master-texts", "example-server"])
async def test_master_client_bytes_get_master_server_replies(conn: int, make_server: object
                                                             ) -> None:
    headers, sent, go_replies = _connections("go-main-client-server")[conn]
    connects: list[g.NodeStreamInfo] = []
    server = make_server(connects)  # type: ignore[operator]
    async with running(server) as address, raw_node_stream(
            address, _custom(headers), wire=STREAM) as raw:
        for body in sent:
            raw.send_body(body)
        replies = [await raw.receive_env() for _ in go_replies]
        raw.send_body(sent[0])  # the stream stays open after the error replies
        again, _ = await raw.receive_env()
    assert again.seq == STREAM.decode(sent[0]).seq and again.status is None
    assert len(connects) == 1 and connects[0].wire == "stream"
    assert [(k, connects[0].metadata[k]) for k, _ in _custom(headers)] == _custom(headers)

    go = [STREAM.decode(body) for body in go_replies]
    assert [r.seq for r, _ in replies] == [e.seq for e in go]
    assert 6 in [STREAM.decode(b).seq for b in sent] and 6 not in [e.seq for e in go]
    exact = make_server is master_storage_server
    for (ours, _), theirs in zip(replies, go, strict=True):
        _same_structure(ours, theirs, texts=exact)
    if exact:
        assert [body for _, body in replies] == go_replies


PROBES = {
    1: "WriteRPC + ReadRPC",
    2: "unknown method and undecodable payload in-band; the stream stays open",
    5: "master framing with application/grpc+gorums",
    6: "two requests in one DATA frame",
    8: "a plain client's high-bit ID is an ordinary request",
}


@pytest.mark.parametrize("probe", sorted(PROBES), ids=[f"probe{n}" for n in sorted(PROBES)])
async def test_probe_requests_get_master_replies(probe: int) -> None:
    headers, sent, go_replies = _connections("go-main-server-probes")[probe]
    ctype = dict(headers)["content-type"]
    server = master_storage_server([])
    async with running(server) as address:
        # the probes ran one after another against one server: same state first
        for earlier in (n for n in sorted(PROBES) if n < probe):
            _, earlier_sent, earlier_replies = _connections("go-main-server-probes")[earlier]
            async with raw_node_stream(address, wire=STREAM) as raw:
                for body in earlier_sent:
                    raw.send_body(body)
                for _ in earlier_replies:
                    await raw.receive_env()
        async with raw_node_stream(address, _custom(headers), wire=STREAM,
                                   subtype=ctype.partition("+")[2] or None) as raw:
            for body in sent:
                raw.send_body(body)
            replies = [await raw.receive_env() for _ in go_replies]
            assert raw.nothing_pending()
    go = [STREAM.decode(body) for body in go_replies]
    for (ours, _), theirs in zip(replies, go, strict=True):
        # texts of protobuf errors differ between implementations: codes only
        _same_structure(ours, theirs, texts=theirs.status is None
                        or theirs.status.code == g.StatusCode.UNIMPLEMENTED)
    if probe == 2:
        # unknown method: 12; undecodable payload: 2; then an ordinary reply
        assert [r.status.code if r.status else 0 for r, _ in replies] == [12, 2, 0]


async def test_v011_framing_on_the_stream_path_ends_the_stream() -> None:
    """Probe 4: v0.11 bytes on /stream.Gorums/NodeStream -> INTERNAL trailers, as master."""
    headers, sent, go_replies = _connections("go-main-server-probes")[4]
    assert not go_replies
    async with running(master_storage_server([])) as address, raw_node_stream(
            address, _custom(headers), wire=STREAM) as raw:
        raw.send_body(sent[0])
        with pytest.raises(g.StatusError) as info:
            await raw.receive_env()
    assert info.value.code == g.StatusCode.INTERNAL
    assert "failed to unmarshal the received message" in info.value.message


async def test_a_wire_not_served_is_refused_naming_the_wires_served() -> None:
    """Probe 3 (v0.11 path on a master server): UNIMPLEMENTED "unknown service
    ordering.Gorums"; ours adds which wire it serves and the option."""
    headers, sent, _ = _connections("go-main-server-probes")[3]
    assert dict(headers)[":path"] == "/ordering.Gorums/NodeStream"
    server = master_storage_server([], wires="stream")
    async with running(server) as address, raw_node_stream(address, _custom(headers)) as raw:
        raw.send_body(sent[0])
        with pytest.raises(g.StatusError) as info:
            await raw.receive()
    assert info.value.code == g.StatusCode.UNIMPLEMENTED
    assert info.value.message.startswith("unknown service ordering.Gorums")
    assert "'stream'" in info.value.message and "Manager(wire=" in info.value.message


async def test_high_bit_ids_on_a_back_channel_stream_are_replies_and_dropped() -> None:
    """Probe 7's rule: with ``gorums-node-id``, a high-bit ID answers a server
    call; one the server never made is dropped; the next request is answered."""
    server = master_storage_server([])
    async with running(server) as address, raw_node_stream(
            address, {"gorums-node-id": "0"}, wire=STREAM) as raw:
        stray = Envelope(SERVER_CALL_BIT | 99, "proto.Storage.ReadRPC",
                         pb.ReadResponse(OK=True).SerializeToString())
        raw.send_body(STREAM.encode(stray))
        raw.send_body(STREAM.encode(Envelope(2, "proto.Storage.ReadRPC",
                                             pb.ReadRequest(key="k").SerializeToString())))
        reply, _ = await raw.receive_env()
    assert reply.seq == 2 and reply.status is None
