"""Strict content type: a path runs its handler only for the subtype it was registered for.

Before issue 10 the NodeStream handlers ran for any ``application/grpc[+x]``,
so a plain gRPC client's protobuf requests were parsed as gorums envelopes.
"""

from __future__ import annotations

import anyio
import pytest
from _backends import anyio_backend, io_backend, wire
from _conn_kit import gorums_server

from gorums_h2.wire import EndOfStream, ServerStream, StatusCode, StatusError, WireServer, connect
from gorums_h2.wire.settings import WireSettings

__all__ = ["anyio_backend", "io_backend", "wire"]

pytestmark = pytest.mark.anyio

NODE_STREAM = "/ordering.Gorums/NodeStream"


async def _status_of(address: tuple[str, int], path: str,
                     subtype: str | None, wire: WireSettings) -> StatusError | None:
    async with connect(*address, settings=wire) as conn:
        stream = await conn.open_stream(path, subtype=subtype)
        stream.end()
        with anyio.fail_after(10):
            try:
                await stream.receive()
            except EndOfStream:
                return None
            except StatusError as exc:
                return exc
    raise AssertionError("the server sent a message")


@pytest.mark.parametrize("subtype", [None, "proto", "json", "gorumsx"])
async def test_node_stream_refuses_other_grpc_subtypes(
        subtype: str | None, wire: WireSettings) -> None:
    ran: list[object] = []
    async with gorums_server(wire=wire) as (address, server):
        server.connect_callback = ran.append  # runs when the NodeStream handler starts
        exc = await _status_of(address, NODE_STREAM, subtype, wire)
    assert exc is not None
    assert exc.code == StatusCode.INTERNAL
    shown = "application/grpc" + (f"+{subtype}" if subtype else "")
    # names what the path takes and what it got
    assert "application/grpc+gorums" in exc.message and shown in exc.message
    assert not ran


async def test_node_stream_takes_gorums_subtype_any_case(wire: WireSettings) -> None:
    ran: list[object] = []
    async with gorums_server(wire=wire) as (address, server):
        server.connect_callback = ran.append
        assert await _status_of(address, NODE_STREAM, "Gorums", wire) is None
    assert len(ran) == 1


async def test_subtype_per_registered_path(wire: WireSettings) -> None:
    """One server, two paths: plain gRPC only, and any gRPC subtype."""
    async def ok(stream: ServerStream) -> None:
        async for _ in stream:
            pass

    srv = WireServer(settings=wire)
    srv.register("/plain.S/M", ok, subtype="")
    srv.register("/proto.S/M", ok, subtype={"", "proto"})
    srv.register("/any.S/M", ok)
    async with anyio.create_task_group() as tg:
        address = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        assert await _status_of(address, "/plain.S/M", None, wire) is None
        exc = await _status_of(address, "/plain.S/M", "gorums", wire)
        assert exc is not None and exc.code == StatusCode.INTERNAL
        assert "takes content-type application/grpc, not application/grpc+gorums" in exc.message
        for subtype in (None, "proto"):
            assert await _status_of(address, "/proto.S/M", subtype, wire) is None
        exc = await _status_of(address, "/proto.S/M", "json", wire)
        assert exc is not None and exc.message == (
            "/proto.S/M takes content-type application/grpc or application/grpc+proto, "
            "not application/grpc+json")
        for subtype in (None, "proto", "gorums"):
            assert await _status_of(address, "/any.S/M", subtype, wire) is None
        srv.stop()
