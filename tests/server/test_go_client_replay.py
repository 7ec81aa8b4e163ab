"""Replay the Go v0.11 client's captured requests against OUR server over TCP.

For each of the three captured connections (/work/shared/interop), open a
NodeStream with the Go client's stream headers (``client-name``,
``stream-key``, in the captured order), send the exact bytes of every gorums
message the Go client sent, and check that our server answers as the Go
server did: same seq numbers and order, echoed method and entries, status
code and message in ``Metadata.status`` (seq 8 and 9) with an empty payload,
payloads that decode to the same values, and no reply to the multicast
(seq 6). The replies must even be byte-for-byte Go's.

The storage service (package ``proto``, service ``Storage``) comes from
``gorums_h2.examples.storage``'s generated code; the handlers are written
here from the README's rules, and the example's own server is replayed too.
"""

from __future__ import annotations

from functools import lru_cache

import pytest
from _capture import deframe, grpc_messages, header_blocks, load_connections, load_decoded
from _server_kit import raw_node_stream, running
from google.protobuf.timestamp_pb2 import Timestamp

import gorums_h2 as g
from gorums_h2.codec import decode_full
from gorums_h2.examples.storage import storage_pb2 as pb
from gorums_h2.examples.storage.server import new_storage_server

pytestmark = pytest.mark.anyio

CAPTURE = "go-v0.11-client-server"
FIXED_HEADERS = {":method", ":scheme", ":path", ":authority", "content-type", "user-agent", "te"}


@lru_cache(maxsize=1)
def _capture() -> dict[int, tuple[list[tuple[str, str]], list[bytes], list[bytes]]]:
    """Per connection: (custom stream headers, client messages, server messages)."""
    out = {}
    decoded = load_decoded(CAPTURE)
    for n, conn in load_connections(CAPTURE).items():
        c2s = deframe(conn.data["c2s"], client=True)
        s2c = deframe(conn.data["s2c"], client=False)
        request = header_blocks(c2s)[0].headers
        custom = [(k, v) for k, v in request if k not in FIXED_HEADERS]
        sent = [body for _, body in grpc_messages(c2s)[1]]
        got = [body for _, body in grpc_messages(s2c)[1]]
        # the reader and the listing agree (tests/interop checks this in depth)
        assert sent == [m.body for m in decoded[n].messages["c2s"]]
        assert got == [m.body for m in decoded[n].messages["s2c"]]
        out[n] = (custom, sent, got)
    return out


def _newer(a: Timestamp, b: Timestamp) -> bool:
    return (a.seconds, a.nanos) > (b.seconds, b.nanos)


class Storage:
    """The capture's server rules (README): a write is applied unless the
    stored value's time is newer; ``fail`` / ``fail-plain`` are rejected."""

    def __init__(self) -> None:
        self.store: dict[str, pb.WriteRequest] = {}
        self.multicasts: list[str] = []

    @staticmethod
    def check(key: str) -> None:
        if key == "fail":
            raise g.StatusError(g.StatusCode.FAILED_PRECONDITION,
                                'key "fail" is rejected by server')
        if key == "fail-plain":
            raise ValueError("plain error for key fail-plain")

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


def our_storage_server(connects: list[g.NodeStreamInfo]) -> g.Server:
    storage = Storage()
    server = g.Server(connect_callback=connects.append)
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


RESPONSE_TYPES = {
    "proto.Storage.ReadRPC": pb.ReadResponse,
    "proto.Storage.ReadQC": pb.ReadResponse,
    "proto.Storage.WriteRPC": pb.WriteResponse,
    "proto.Storage.WriteQC": pb.WriteResponse,
}


def test_the_capture_has_what_the_replay_relies_on() -> None:
    cap = _capture()
    assert sorted(cap) == [1, 2, 3]
    seqs = {n: [decode_full(b)[0].message_seq_no for b in sent] for n, (_, sent, _) in cap.items()}
    assert seqs == {1: [1, 2, 3, 4, 5, 6, 7, 8, 9], 2: [3, 4, 5, 6, 7, 9], 3: [3, 4, 5, 6, 7, 9]}
    assert [k for k, _ in cap[1][0]] == ["client-name", "stream-key"]
    assert [k for k, _ in cap[2][0]] == ["stream-key", "client-name"]


@pytest.mark.parametrize("conn", [1, 2, 3])
@pytest.mark.parametrize("make_server", [our_storage_server, example_storage_server],
                         ids=["test-handlers", "example-server"])
async def test_go_client_bytes_get_go_server_replies(conn: int, make_server: object) -> None:
    custom, sent, go_replies = _capture()[conn]
    connects: list[g.NodeStreamInfo] = []
    server = make_server(connects)  # type: ignore[operator]
    async with running(server) as address, raw_node_stream(address, custom) as raw:
        for body in sent:
            raw.send_body(body)
        replies = await raw.receive_n(len(go_replies))
        # the stream stays open after the error replies: one more read works
        raw.send_body(sent[0])
        again = await raw.receive()
    assert again.seq == decode_full(sent[0])[0].message_seq_no and again.code == 0

    # the connect callback saw the Go client's stream headers
    assert len(connects) == 1
    assert [(k, connects[0].metadata[k]) for k, _ in custom] == custom

    go = [(md, payload) for md, _, payload in map(decode_full, go_replies)]
    ours = [(r.md, r.payload) for r in replies]
    # same seq numbers in the same order: nothing for the multicast (seq 6)
    assert [md.message_seq_no for md, _ in ours] == [md.message_seq_no for md, _ in go]
    assert 6 in [decode_full(b)[0].message_seq_no for b in sent]
    assert 6 not in [md.message_seq_no for md, _ in ours]
    requests = {decode_full(b)[0].message_seq_no: decode_full(b)[0] for b in sent}
    for (md, payload), (go_md, go_payload) in zip(ours, go, strict=True):
        seq = md.message_seq_no
        # method and entries echoed from the request, as Go does
        assert md.method == go_md.method == requests[seq].method
        assert list(md.entry) == list(go_md.entry) == list(requests[seq].entry)
        # status placement: in Metadata.status, with an empty payload
        assert (md.status.code, md.status.message) == (go_md.status.code, go_md.status.message)
        if seq == 8:
            assert md.status.code == g.StatusCode.FAILED_PRECONDITION
            assert md.status.message == 'key "fail" is rejected by server'
        if seq == 9:
            assert md.status.code == g.StatusCode.UNKNOWN
            assert md.status.message == "plain error for key fail-plain"
        if md.status.code:
            assert payload == go_payload == b""
        # payloads decode to the same values
        cls = RESPONSE_TYPES[md.method]
        assert cls.FromString(payload) == cls.FromString(go_payload)
    # and the bytes are Go's, exactly
    assert [r.body for r in replies] == go_replies


async def test_replayed_values_are_the_expected_ones() -> None:
    """Spot-check the decoded values themselves (not only equality with Go)."""
    custom, sent, _ = _capture()[1]
    server = our_storage_server([])
    async with running(server) as address:
        async with raw_node_stream(address, custom) as raw:
            for body in sent:
                raw.send_body(body)
            replies = {r.seq: r for r in await raw.receive_n(8)}
        # an older write is not applied
        old = pb.WriteRequest(key="qc-key", value="old", time=Timestamp(seconds=1))
        async with raw_node_stream(address) as raw:
            raw.send(20, "proto.Storage.WriteRPC", old)
            assert pb.WriteResponse.FromString((await raw.receive()).payload).new is False
    assert pb.WriteResponse.FromString(replies[1].payload).new is True
    read = pb.ReadResponse.FromString(replies[2].payload)
    assert (read.OK, read.value, read.time.seconds) == (True, "rpc-value", 1700000001)
    assert pb.WriteResponse.FromString(replies[3].payload).new is True
    for seq in (4, 5):
        read = pb.ReadResponse.FromString(replies[seq].payload)
        assert (read.OK, read.value, read.time.seconds) == (True, "qc-value", 1700000003)
    read = pb.ReadResponse.FromString(replies[7].payload)
    assert (read.OK, read.value, read.time.seconds) == (True, "mc-value", 1700000006)
    assert server.storage.multicasts == ["mc-key"]  # type: ignore[attr-defined]
