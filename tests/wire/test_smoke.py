"""End-to-end smoke test of the wire layer over real TCP."""

from __future__ import annotations

import anyio
import pytest

from gorums_h2.wire import EndOfStream, ServerStream, StatusCode, StatusError, WireServer, connect
from gorums_h2.wire.settings import WireSettings

pytestmark = pytest.mark.anyio


async def echo(stream: ServerStream) -> None:
    async for msg in stream:
        stream.send_nowait(msg)


async def test_echo_roundtrip_and_unknown_path(wire: WireSettings) -> None:
    srv = WireServer({"/test.Echo/Bidi": echo}, settings=wire)
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(srv.serve_tcp, "127.0.0.1", 0)
        async with connect(host, port, settings=wire) as conn:
            stream = await conn.open_stream("/test.Echo/Bidi", subtype="gorums")
            for i in range(100):
                stream.send_nowait(b"m%d" % i)
            assert [await stream.receive() for _ in range(100)] == [b"m%d" % i for i in range(100)]
            stream.end()
            with pytest.raises(EndOfStream):
                await stream.receive()
            assert stream.status is None
            missing = await conn.open_stream("/test.Echo/Nope")
            with pytest.raises(StatusError) as info:
                await missing.receive()
            assert info.value.code == StatusCode.UNIMPLEMENTED
            assert info.value.message == "unknown method Nope for service test.Echo"
        srv.stop()
