"""A hand-driven HTTP/2 server peer (h2 on an anyio socket) for wire tests.

The test decides what the peer does and when: complete the handshake with
chosen SETTINGS, read and react to events, send arbitrary frames, stop
answering, or close the socket. Runs on any anyio backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
import h2.settings

Settings = dict[h2.settings.SettingCodes, int]


class RawPeer:
    """The server end of one accepted connection, driven by the test."""

    def __init__(self, sock: anyio.abc.SocketStream) -> None:
        self.sock = sock
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config=config)
        self.events: list[Any] = []

    async def handshake(self, settings: Settings | None = None) -> None:
        """Send our SETTINGS and wait until the client acknowledged them."""
        if settings:
            self.h2.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        self.h2.initiate_connection()
        await self.flush()
        await self.wait_for(h2.events.SettingsAcknowledged)

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            await self.sock.send(data)

    async def read(self) -> list[Any]:
        """Read once, feed h2, send what it answers; return the new events."""
        data = await self.sock.receive()
        events = self.h2.receive_data(data)
        self.events += events
        await self.flush()
        return events

    async def wait_for(self, kind: type, count: int = 1) -> list[Any]:
        """Read until ``count`` events of ``kind`` were seen in total."""
        while len(found := [e for e in self.events if isinstance(e, kind)]) < count:
            await self.read()
        return found

    async def send_raw(self, data: bytes) -> None:
        await self.sock.send(data)

    async def close(self) -> None:
        await self.sock.aclose()


@asynccontextmanager
async def raw_server() -> AsyncIterator[tuple[int, Any]]:
    """Listen on 127.0.0.1; yield (port, accept) where ``await accept()`` gives a RawPeer."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    inner = listener.listeners[0]
    port = inner.extra(anyio.abc.SocketAttribute.local_port)
    peers: list[RawPeer] = []

    async def accept() -> RawPeer:
        peer = RawPeer(await inner.accept())
        peers.append(peer)
        return peer

    try:
        yield port, accept
    finally:
        for peer in peers:
            await anyio.aclose_forcefully(peer.sock)
        await listener.aclose()
