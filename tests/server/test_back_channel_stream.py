"""A back-channel client's NodeStream on our server, driven by hand: requests
pipelined before a half-close are all answered (the reply reader hands every
buffered request on before the stream's end)."""

from __future__ import annotations

import pytest
from _server_kit import raw_node_stream, running

from gorums_h2.codec import STREAM, Envelope
from gorums_h2.examples.storage import storage_pb2 as pb
from gorums_h2.examples.storage.server import new_storage_server

pytestmark = pytest.mark.anyio


async def test_requests_before_a_half_close_are_all_answered() -> None:
    server = new_storage_server()
    async with running(server) as address, raw_node_stream(
            address, {"gorums-node-id": "0"}, wire=STREAM) as raw:
        for seq in (1, 2, 3):
            raw.send_body(STREAM.encode(Envelope(
                seq, "proto.Storage.ReadRPC", pb.ReadRequest(key="k").SerializeToString())))
        raw.stream.end()  # half-close: no more requests
        replies = [(await raw.receive_env())[0] for _ in range(3)]
    assert [r.seq for r in replies] == [1, 2, 3]
    assert all(r.status is None for r in replies)
    assert not server._inbound.clients  # it left when its stream ended
