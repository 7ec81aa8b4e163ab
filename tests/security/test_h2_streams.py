"""Stream-level defences in-process (both loops): handlers of reset streams never
run, and the read pausing that bounds memory does not stall a legitimate
bidirectional stream whose client reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from _h2_attack import (
    CANCEL,
    END_HEADERS,
    ENHANCE_YOUR_CALM,
    HEADERS,
    RST_STREAM,
    attacker,
    frame,
    request_headers,
)

from gorums_h2.wire.client import connect
from gorums_h2.wire.server import ServerStream, StreamHandler, WireServer

pytestmark = pytest.mark.anyio

PATH = "/ordering.Gorums/NodeStream"
MiB = 1 << 20


@asynccontextmanager
async def serving(handler: StreamHandler) -> AsyncIterator[int]:
    server = WireServer({PATH: handler})
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(server.serve_tcp, "127.0.0.1", 0)
        try:
            yield port
        finally:
            server.stop()


async def test_handlers_of_streams_reset_in_the_same_read_never_run() -> None:
    started: list[int] = []

    async def handler(stream: ServerStream) -> None:
        started.append(stream.stream_id)
        await anyio.sleep(10)

    block = request_headers()
    cancel = CANCEL.to_bytes(4, "big")
    pairs = b"".join(frame(HEADERS, END_HEADERS, sid, block) + frame(RST_STREAM, 0, sid, cancel)
                     for sid in range(1, 301, 2))  # 150: within the per-read rule
    async with serving(handler) as port, attacker(port) as (sock, reader):
        await sock.send(pairs)
        await anyio.sleep(0.5)
        assert started == []
        # the budget: 1000 resets per 10 s, then GOAWAY ENHANCE_YOUR_CALM
        for first in range(301, 2 * 1100, 300):
            await sock.send(b"".join(
                frame(HEADERS, END_HEADERS, sid, block) + frame(RST_STREAM, 0, sid, cancel)
                for sid in range(first, first + 300, 2)))
            await anyio.sleep(0.01)
        await reader.read_until_goaway(5)
        assert reader.goaway == ENHANCE_YOUR_CALM
    assert started == []


async def test_a_large_echo_flows_while_the_client_reads() -> None:
    # far more than the inbound and output backlogs, in both directions at once
    async def echo(stream: ServerStream) -> None:
        async for msg in stream:
            await stream.send(msg)

    chunk = bytes(range(256)) * 1024  # 256 KiB
    count = 128  # 32 MiB each way
    async with serving(echo) as port:
        with anyio.fail_after(60):
            async with connect("127.0.0.1", port) as conn:
                stream = await conn.open_stream(PATH)
                got = 0

                async def receive() -> None:
                    nonlocal got
                    async for msg in stream:
                        assert msg == chunk
                        got += 1

                async with anyio.create_task_group() as tg:
                    tg.start_soon(receive)
                    for _ in range(count):
                        await stream.send(chunk)
                    stream.end()
                assert got == count


async def test_a_client_that_sends_everything_before_reading_still_completes() -> None:
    # sends 8 MiB without reading (the server's replies pile up), then reads
    async def echo(stream: ServerStream) -> None:
        async for msg in stream:
            stream.send_nowait(msg)

    chunk = b"e" * (256 * 1024)
    async with serving(echo) as port:
        with anyio.fail_after(60):
            async with connect("127.0.0.1", port) as conn:
                stream = await conn.open_stream(PATH)
                for _ in range(32):
                    stream.send_nowait(chunk)
                stream.end()
                replies = [msg async for msg in stream]
                assert len(replies) == 32
