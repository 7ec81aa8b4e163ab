"""The native asyncio I/O path (gorums_h2.wire._asyncio_io.AsyncioProtocolIO) in isolation.

These are unit tests of an asyncio-only component, so they drive an asyncio
loop themselves; everything built on it runs on both backends elsewhere.
"""

from __future__ import annotations

import asyncio

import anyio

from gorums_h2.wire import ServerStream, WireServer
from gorums_h2.wire._asyncio_io import AsyncioProtocolIO
from gorums_h2.wire.client import ClientConnection


async def _echo(stream: ServerStream) -> None:
    async for msg in stream:
        stream.send_nowait(msg)


def test_bytes_that_arrive_before_the_connection_is_set_up_are_replayed() -> None:
    """uvloop may call data_received before open_io's caller builds the
    connection; plain asyncio does so too when the caller awaits in between."""

    async def main() -> None:
        server = WireServer({"/t.S/M": _echo})
        async with anyio.create_task_group() as tg:
            host, port = await tg.start(server.serve_tcp, "127.0.0.1", 0)
            io = AsyncioProtocolIO()
            loop = asyncio.get_running_loop()
            await loop.create_connection(lambda: io.protocol, host, port)
            await asyncio.sleep(0.1)  # the server's SETTINGS arrive now
            assert io._early, "the server's first bytes should have arrived early"
            conn = ClientConnection(io, authority=f"{host}:{port}")
            async with anyio.create_task_group() as ctg:
                await ctg.start(conn.run)
                stream = await conn.open_stream("/t.S/M")
                stream.send_nowait(b"ping")
                with anyio.fail_after(5):
                    assert await stream.receive() == b"ping"
                await conn.aclose()
            server.stop()

    asyncio.run(main())
