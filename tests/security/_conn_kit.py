"""Attacks on a server's connections, and a probe client measuring service meanwhile.

* :func:`gorums_server` runs a real gorums echo server (``Server(limits=...)``)
  on 127.0.0.1 and yields its address and the :class:`gorums_h2.Server`.
* :class:`Probe` is a well-behaved gorums client on its own connection that
  calls the server back to back and records the longest gap between two
  successful calls and every error.
* :class:`RawClient` is a hand-driven HTTP/2 client on a raw socket (h2),
  for clients that misbehave: stop after one byte, trickle the preface,
  complete the handshake and then go silent.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events

import gorums_h2 as g
from gorums_h2.testing import ECHO_RPC, Echo, register_echo_service
from gorums_h2.testing.services import EchoService
from gorums_h2.wire import ServerLimits, WireSettings

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@asynccontextmanager
async def gorums_server(make: Callable[[], g.Server] | None = None, *,
                        limits: ServerLimits | None = None, wire: WireSettings | None = None,
                        ssl_context: ssl.SSLContext | None = None,
                        ) -> AsyncIterator[tuple[tuple[str, int], g.Server]]:
    """A gorums echo server on 127.0.0.1 (``make()`` builds it, else one
    with ``limits``, ``wire`` settings and ``ssl_context``); stopped after."""
    server = make() if make is not None else g.Server(limits=limits, wire_settings=wire,
                                                      ssl_context=ssl_context)
    register_echo_service(server, EchoService(0))
    async with anyio.create_task_group() as tg:
        address = await tg.start(server.serve_tcp, "127.0.0.1", 0)
        try:
            yield address, server
        finally:
            server.stop()


@dataclass
class Probe:
    """Service seen by a well-behaved client: calls, errors, longest gap."""

    calls: int = 0
    errors: list[BaseException] = field(default_factory=list)
    max_gap: float = 0.0
    wire: WireSettings | None = None

    async def run(self, address: tuple[str, int], stop: anyio.Event, *,
                  task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Call the echo server until ``stop``; ``started`` after the first reply."""
        async with g.Manager(wire_settings=self.wire) as mgr:
            cfg = mgr.new_configuration(g.with_node_list([f"{address[0]}:{address[1]}"]))
            node = cfg.nodes()[0]
            await self._call(node)
            last = time.monotonic()
            task_status.started()
            while not stop.is_set():
                ok = await self._call(node)
                now = time.monotonic()
                if ok:
                    self.max_gap = max(self.max_gap, now - last)
                    last = now
                await anyio.sleep(0.005)
            self.max_gap = max(self.max_gap, time.monotonic() - last)

    async def _call(self, node: Any) -> bool:
        try:
            with anyio.fail_after(10):
                reply = await g.rpc_call(node.context(), Echo(value="probe"), ECHO_RPC, Echo)
            assert reply.value == "probe"
        except Exception as exc:
            self.errors.append(exc)
            return False
        self.calls += 1
        return True

    def summary(self) -> str:
        return f"probe: {self.calls} calls, {len(self.errors)} errors, max gap {self.max_gap:.3f}s"


class RawClient:
    """One client connection driven byte by byte by the test."""

    def __init__(self, sock: anyio.abc.SocketStream) -> None:
        self.sock = sock
        self.h2 = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.events: list[Any] = []
        self.eof = False

    @classmethod
    async def connect(cls, address: tuple[str, int]) -> RawClient:
        return cls(await anyio.connect_tcp(*address))

    async def handshake(self) -> None:
        """Send the preface and SETTINGS; wait for the server's SETTINGS (not ACKed
        by the test unless it reads again)."""
        self.h2.initiate_connection()
        await self.sock.send(self.h2.data_to_send())
        while not any(isinstance(e, h2.events.RemoteSettingsChanged) for e in self.events):
            await self.read_once()

    async def read_once(self) -> bytes:
        """Read once and feed h2 (answers are NOT sent: this client stays silent)."""
        try:
            data = await self.sock.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.eof = True
            return b""
        self.events += self.h2.receive_data(data)
        return data

    async def wait_closed(self, within: float) -> float:
        """Read until the server closes; return how long that took. Raises
        TimeoutError after ``within`` seconds."""
        start = time.monotonic()
        with anyio.fail_after(within):
            while not self.eof:
                await self.read_once()
        return time.monotonic() - start

    def goaway(self) -> h2.events.ConnectionTerminated | None:
        for event in self.events:
            if isinstance(event, h2.events.ConnectionTerminated):
                return event
        return None

    async def aclose(self) -> None:
        await anyio.aclose_forcefully(self.sock)


async def eventually(condition: Callable[[], object], within: float) -> None:
    """Poll ``condition`` until it is true (TimeoutError after ``within`` s)."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.01)


async def closed_by_server(sock: anyio.abc.SocketStream, within: float) -> float:
    """Wait until the server closes ``sock`` (ignoring what it sends); return
    the seconds it took. Raises TimeoutError after ``within`` seconds."""
    start = time.monotonic()
    with anyio.fail_after(within):
        while True:
            try:
                await sock.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return time.monotonic() - start
