"""gRPC health checking served by Server, checked with grpcio's health client.

grpcio's client (grpcio-health-checking) runs in a process of its own
(``grpcio_health_peer.py``, see there why) driven line by line; our own
client helper :func:`gorums_h2.health.check_health` is checked beside it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest
from _server_kit import address_of, running
from anyio.streams.buffered import BufferedByteReceiveStream

import gorums_h2 as g
from gorums_h2.examples.storage.server import new_storage_server
from gorums_h2.health import ServingStatus, check_health

pytestmark = pytest.mark.anyio

PEER = Path(__file__).with_name("grpcio_health_peer.py")
WAIT = 60  # generous: the peer is a separate process on a shared machine


class Peer:
    """The grpcio health client process: :meth:`ask` a command, :meth:`line` reads on."""

    def __init__(self, proc: anyio.abc.Process) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self._stdin = proc.stdin
        self._stdout = BufferedByteReceiveStream(proc.stdout)

    async def send(self, command: str) -> None:
        await self._stdin.send(command.encode() + b"\n")

    async def line(self) -> str:
        with anyio.fail_after(WAIT):
            return (await self._stdout.receive_until(b"\n", 65536)).decode()

    async def ask(self, command: str) -> str:
        await self.send(command)
        return await self.line()

    async def lines(self, n: int) -> list[str]:
        return [await self.line() for _ in range(n)]


@asynccontextmanager
async def grpcio_health_client(port: int) -> AsyncIterator[Peer]:
    async with await anyio.open_process(
            [sys.executable, str(PEER), str(port)], stderr=subprocess.PIPE) as proc:
        peer = Peer(proc)
        try:
            assert await peer.line() == "READY"
            yield peer
        finally:
            await peer._stdin.aclose()  # the peer cancels its watches and exits
            with anyio.fail_after(WAIT):
                await proc.wait()


async def test_grpcio_check_and_list_follow_the_statuses() -> None:
    server = new_storage_server()
    async with running(server) as (_, port), grpcio_health_client(port) as peer:
        assert await peer.ask("check") == "SERVING"
        assert await peer.ask("check proto.Storage") == "SERVING"  # registered gorums service
        assert await peer.ask("check nope") == "NOT_FOUND"
        server.health.set_status("custom", ServingStatus.NOT_SERVING)
        assert await peer.ask("check custom") == "NOT_SERVING"
        assert await peer.ask("list") == "=SERVING custom=NOT_SERVING proto.Storage=SERVING"
        server.health.shutdown()  # drain: everything NOT_SERVING, set_status ignored
        server.health.set_status("", ServingStatus.SERVING)
        assert await peer.ask("check") == "NOT_SERVING"
        assert await peer.ask("check proto.Storage") == "NOT_SERVING"
        server.health.resume()
        assert await peer.ask("check custom") == "SERVING"
        server.health.clear_status("custom")
        assert await peer.ask("check custom") == "NOT_FOUND"


async def test_grpcio_watch_gets_updates_then_not_serving_on_graceful_stop() -> None:
    server = new_storage_server()
    async with running(server) as (_, port), grpcio_health_client(port) as peer:
        await peer.send("watch")
        assert await peer.line() == "watch SERVING"
        await peer.send("watch later")
        assert await peer.line() == "watch SERVICE_UNKNOWN"  # the call stays open
        server.health.set_status("later", ServingStatus.SERVING)
        assert await peer.line() == "watch SERVING"
        server.health.set_status("", ServingStatus.NOT_SERVING)
        assert await peer.line() == "watch NOT_SERVING"
        server.health.set_status("", ServingStatus.NOT_SERVING)  # no change: nothing sent
        server.health.set_status("", ServingStatus.SERVING)
        assert await peer.line() == "watch SERVING"
        with anyio.fail_after(WAIT):
            # returns only once the watchers ended: they do not hold the server up
            await server.graceful_stop()
        assert sorted(await peer.lines(4)) == [
            "watch NOT_SERVING", "watch NOT_SERVING",
            "watch end UNAVAILABLE", "watch end UNAVAILABLE"]


async def test_grpcio_watch_cancelled_by_the_client_leaves_nothing() -> None:
    server = new_storage_server()
    async with running(server) as (_, port):  # running() checks for leaks after the stop
        async with grpcio_health_client(port) as peer:
            await peer.send("watch proto.Storage")
            assert await peer.line() == "watch SERVING"
        # the peer cancelled its watch on exit; the server is still serving
        assert await check_health(f"127.0.0.1:{port}") == ServingStatus.SERVING


async def test_health_can_be_switched_off() -> None:
    server = new_storage_server(health=False)
    async with running(server) as (_, port), grpcio_health_client(port) as peer:
        assert await peer.ask("check") == "UNIMPLEMENTED"
        with pytest.raises(g.StatusError) as info:
            await check_health(f"127.0.0.1:{port}")
        assert info.value.code == g.StatusCode.UNIMPLEMENTED


async def test_check_health_helper_on_an_address_and_on_a_node() -> None:
    server = new_storage_server()
    server.health.set_status("down", ServingStatus.NOT_SERVING)
    async with running(server) as address:
        addr = address_of(address)
        assert await check_health(addr) == ServingStatus.SERVING
        assert await check_health(addr, "down") == ServingStatus.NOT_SERVING
        with pytest.raises(g.StatusError) as info:
            await check_health(addr, "nope")
        assert (info.value.code, info.value.message) == (g.StatusCode.NOT_FOUND,
                                                         "unknown service")
        async with g.Manager() as mgr:
            cfg = mgr.new_configuration(g.with_node_list([addr]))
            node = cfg.nodes()[0]
            await node.wait_connected()
            # on the node's own connection, beside its NodeStream
            assert await check_health(node, "proto.Storage") == ServingStatus.SERVING
            assert await check_health(node, "down") == ServingStatus.NOT_SERVING
            server.stop()
            await node.wait_disconnected()
            with pytest.raises(g.StatusError) as info:
                await check_health(node)
            assert info.value.code == g.StatusCode.UNAVAILABLE


async def test_check_health_on_an_address_nobody_serves() -> None:
    with anyio.fail_after(WAIT):
        with pytest.raises(g.StatusError) as info:
            await check_health("127.0.0.1:1")
    assert info.value.code == g.StatusCode.UNAVAILABLE
