"""What our client sends has the structure of what the Go client sent, on
both wires: v0.11's (``ordering``) and master's (``stream``).

The capture's call sequence runs through TCP relays (as the capture itself
was made) in front of our storage servers; the bytes each relay saw from
the client are decoded independently of gorums_h2 (hyperframe + hpack, in
tests/_capture.py) and compared with the Go client's connections. On the
``stream`` wire Go's per-call entry order is random, so messages are compared
byte for byte after putting Go's entries in our order.
"""

from __future__ import annotations

import anyio
import anyio.abc
import pytest
from _capture import deframe, grpc_messages, header_blocks, load_connections
from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame

import gorums_h2 as g
from gorums_h2.codec import WIRES, Envelope
from gorums_h2.examples.storage.client import ERROR_STEPS, STEPS, run_steps
from gorums_h2.examples.storage.server import new_storage_server

pytestmark = pytest.mark.anyio

CAPTURES = {"ordering": "go-v0.11-client-server", "stream": "go-main-client-server"}


class Relay:
    """Forwards TCP both ways to ``target`` and records what the client sent."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.c2s = bytearray()

    async def serve(self, *, task_status: anyio.abc.TaskStatus[int]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_address)[1]
        task_status.started(port)
        async with listener:
            await listener.serve(self._relay)

    async def _relay(self, client: anyio.abc.SocketStream) -> None:
        async with client, await anyio.connect_tcp(*self.target) as server, \
                anyio.create_task_group() as tg:

            async def pump(src: anyio.abc.SocketStream, dst: anyio.abc.SocketStream,
                           record: bool) -> None:
                try:
                    async for chunk in src:
                        if record:
                            self.c2s += chunk
                        await dst.send(chunk)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(pump, client, server, True)
            tg.start_soon(pump, server, client, False)


def _messages(c2s: bytes) -> list[bytes]:
    frames = deframe(c2s, client=True)
    return [body for messages in grpc_messages(frames).values() for _, body in messages]


def _in_order_of(go: Envelope, ours: Envelope) -> Envelope:
    """``go`` with its entries in the order ``ours`` has them (same multiset)."""
    assert sorted(go.entries) == sorted(ours.entries)
    return Envelope(go.seq, go.method, go.payload, go.status, ours.entries)


@pytest.mark.parametrize("wire", sorted(CAPTURES))
async def test_client_bytes_have_the_go_clients_structure(wire: str) -> None:
    go = load_connections(CAPTURES[wire])
    proto = WIRES[wire]
    relays: list[Relay] = []
    async with anyio.create_task_group() as tg:
        addrs = []
        for _ in range(3):
            server = new_storage_server()
            host, port = await tg.start(server.serve_tcp, "127.0.0.1", 0)
            relay = Relay((host, port))
            relays.append(relay)
            addrs.append(f"127.0.0.1:{await tg.start(relay.serve)}")
        metadata = {"client-name": "go-storage-client", "stream-key": "stream-value"}
        async with g.Manager(metadata=metadata, wire=wire) as mgr:
            cfg = mgr.new_configuration(g.with_node_list(addrs))
            first = mgr.node(g.node_id_for(addrs[0]) if wire == "ordering" else 1)
            results = await run_steps(cfg, STEPS, rpc_node=first)
            results += await run_steps(cfg, ERROR_STEPS, expect_errors=True, rpc_node=first)
            assert all(r.ok for r in results), [r for r in results if not r.ok]
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()

    for index, relay in enumerate(relays):
        ours = bytes(relay.c2s)
        theirs = go[index + 1].data["c2s"]
        our_frames = deframe(ours, client=True)
        go_frames = deframe(theirs, client=True)
        # the connection opens with SETTINGS, then one request on stream 1
        assert isinstance(our_frames[0], SettingsFrame) and isinstance(go_frames[0], SettingsFrame)
        [our_head] = [b for b in header_blocks(our_frames)]
        [go_head] = header_blocks(go_frames)
        assert our_head.stream_id == go_head.stream_id == 1 and not our_head.end_stream
        ours_h, go_h = dict(our_head.headers), dict(go_head.headers)
        assert set(ours_h) == set(go_h)
        for key in (":method", ":scheme", ":path", "content-type", "te",
                    "client-name", "stream-key"):
            assert ours_h[key] == go_h[key], key
        assert ours_h[":authority"] == addrs[index]
        assert ours_h["user-agent"].startswith("gorums-h2/")
        # pseudo-headers first, in the same order
        assert [k for k, _ in our_head.headers][:4] == [k for k, _ in go_head.headers][:4]
        # the same gorums messages: seq numbers, methods, entries, payloads, byte for byte
        our_msgs, go_msgs = _messages(ours), _messages(theirs)
        our_envs = [proto.decode(m) for m in our_msgs]
        go_envs = [proto.decode(m) for m in go_msgs]
        assert [(e.seq, e.method) for e in our_envs] == [(e.seq, e.method) for e in go_envs]
        if wire == "ordering":
            assert our_msgs == go_msgs
        else:  # Go's entry order is random per message
            assert our_msgs == [proto.encode(_in_order_of(theirs_env, ours_env))
                                for theirs_env, ours_env in zip(go_envs, our_envs, strict=True)]
        # framing: uncompressed, one message per DATA frame, no END_STREAM
        for frame in our_frames:
            if isinstance(frame, DataFrame):
                assert frame.data[0] == 0 and "END_STREAM" not in frame.flags
            if isinstance(frame, HeadersFrame):
                assert frame.stream_id == 1
