"""Real servers on 127.0.0.1 for the wire tests."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from gorums_h2.wire import ServerStream, StreamHandler, WireServer, WireSettings

ECHO = "/test.Echo/Bidi"


async def echo(stream: ServerStream) -> None:
    """Send every message back, in order, until the client half-closes."""
    async for msg in stream:
        await stream.send(msg)


@asynccontextmanager
async def serving(
    handlers: dict[str, StreamHandler] | None = None,
    *,
    settings: WireSettings | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[tuple[WireServer, int]]:
    """Run a WireServer (echo on ECHO by default); yield (server, port); stop it after."""
    srv = WireServer(handlers if handlers is not None else {ECHO: echo}, settings=settings)
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(lambda task_status: srv.serve_tcp(
            "127.0.0.1", 0, ssl_context=ssl_context, task_status=task_status))
        try:
            yield srv, port
        finally:
            srv.stop()
