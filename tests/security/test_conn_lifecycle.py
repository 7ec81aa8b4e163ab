"""Connections that never get going, go silent, idle, age, or are too many.

Each attack runs against a real gorums server on 127.0.0.1 (both loops, and
both I/O paths of each), with scaled-down :class:`ServerLimits` except where
the default itself is the point, while a probe client measures its service.
Before ServerLimits (issue 10) every one of these connections stayed open
for ever.
"""

from __future__ import annotations

import socket

import anyio
import h2.events
import pytest
from _backends import anyio_backend, io_backend, wire
from _conn_kit import PREFACE, Probe, RawClient, closed_by_server, eventually, gorums_server
from h2.errors import ErrorCodes

import gorums_h2 as g
from gorums_h2.testing import ECHO_RPC, Echo
from gorums_h2.wire import ServerConnection, ServerLimits, connect
from gorums_h2.wire.settings import WireSettings

__all__ = ["anyio_backend", "io_backend", "wire"]

pytestmark = pytest.mark.anyio

# generous: 2 shared cores, many test runs at once
SLACK = 3.0


async def connections_drop_to(server: g.Server, n: int, within: float = SLACK) -> None:
    await eventually(lambda: len(server.wire.connections) <= n, within)


# the default on both loops; the limit on every I/O path: the trickling test below
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_one_byte_slowloris_closed_by_default_handshake_timeout(wire: WireSettings) -> None:
    """A client that sends 1 byte is closed within 10 s by default (5 s limit)."""
    async with gorums_server(wire=wire) as (address, server):
        sock = await anyio.connect_tcp(*address)
        await sock.send(b"P")
        took = await closed_by_server(sock, within=5.0 + SLACK + 2.0)
        await anyio.aclose_forcefully(sock)
        print(f"1-byte slowloris closed after {took:.2f}s")
        assert 4.0 <= took <= 10.0, took
        await connections_drop_to(server, 0)


async def test_trickling_prefaces_closed_while_probe_is_served(wire: WireSettings) -> None:
    """60 connections trickle the preface a byte every 0.2 s: all are closed
    after the 1 s handshake limit, and a well-behaved client keeps being
    served meanwhile."""
    limits = ServerLimits(handshake_timeout=1.0)
    closed: list[float] = []
    probe = Probe(wire=wire)
    async with gorums_server(limits=limits, wire=wire) as (address, server):
        stop = anyio.Event()

        async def trickle() -> None:
            sock = await anyio.connect_tcp(*address)
            start = anyio.current_time()
            try:
                with anyio.fail_after(1.0 + SLACK + 2.0):
                    for i in range(len(PREFACE)):
                        await sock.send(PREFACE[i:i + 1])
                        with anyio.move_on_after(0.2):
                            if not await sock.receive():
                                break
                    else:
                        raise AssertionError("the whole preface was accepted")
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                pass
            finally:
                closed.append(anyio.current_time() - start)
                await anyio.aclose_forcefully(sock)

        async with anyio.create_task_group() as tg:
            await tg.start(probe.run, address, stop)
            async with anyio.create_task_group() as attackers:
                for _ in range(60):
                    attackers.start_soon(trickle)
            stop.set()
        print(f"60 trickling connections closed after {min(closed):.2f}..{max(closed):.2f}s; "
              f"{probe.summary()}")
        assert len(closed) == 60
        assert max(closed) <= 1.0 + SLACK
        assert not probe.errors
        assert probe.max_gap < 1.5, probe.summary()
        assert probe.calls > 10
        await connections_drop_to(server, 1)  # the probe's


async def test_silent_client_closed_by_keepalive(wire: WireSettings) -> None:
    """A client that completes the handshake, then neither reads nor answers
    PINGs (its host vanished) is closed after keepalive_time + keepalive_timeout,
    without a GOAWAY; an idle client that answers PINGs stays."""
    limits = ServerLimits(keepalive_time=0.5, keepalive_timeout=0.5)
    probe = Probe(wire=wire)
    async with gorums_server(limits=limits, wire=wire) as (address, server):
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            await tg.start(probe.run, address, stop)  # busy: never pinged
            silent = await RawClient.connect(address)
            await silent.handshake()  # our SETTINGS go out; we never answer anything after
            start = anyio.current_time()
            # answers PINGs, sends nothing else
            async with connect(*address, settings=wire) as alive:
                await connections_drop_to(server, 2, within=1.0 + SLACK)
                took = anyio.current_time() - start
                await anyio.sleep(1.5)  # three more keepalive periods
                assert len(server.wire.connections) == 2
                assert alive.error is None
            stop.set()
        print(f"silent client closed after {took:.2f}s; {probe.summary()}")
        assert not probe.errors
        assert probe.max_gap < 1.5, probe.summary()
        took_eof = await silent.wait_closed(within=SLACK)
        await silent.aclose()
        assert 0.9 <= took <= 1.0 + SLACK, took
        assert silent.goaway() is None  # presumed gone: closed without GOAWAY
        assert any(isinstance(e, h2.events.PingReceived) for e in silent.events)
        assert took_eof < SLACK


async def test_keepalive_off_keeps_silent_client(wire: WireSettings) -> None:
    """keepalive_time=None: nothing pings, a silent connection stays (the old behaviour)."""
    limits = ServerLimits(keepalive_time=None)
    async with gorums_server(limits=limits, wire=wire) as (address, server):
        silent = await RawClient.connect(address)
        await silent.handshake()
        await anyio.sleep(1.0)
        assert len(server.wire.connections) == 1
        await silent.aclose()


async def test_max_connection_idle_sends_goaway_max_idle(wire: WireSettings) -> None:
    limits = ServerLimits(max_connection_idle=0.5)
    async with gorums_server(limits=limits, wire=wire) as (address, _):
        client = await RawClient.connect(address)
        await client.handshake()
        took = await client.wait_closed(within=0.5 + SLACK)
        await client.aclose()
        goaway = client.goaway()
        assert goaway is not None
        assert goaway.error_code == ErrorCodes.NO_ERROR
        assert goaway.additional_data == b"max_idle"
        assert took <= 0.5 + SLACK


async def test_max_connection_idle_spares_connections_with_streams(wire: WireSettings) -> None:
    """A gorums client's NodeStream keeps its connection busy, so it is never idle."""
    limits = ServerLimits(max_connection_idle=0.3)
    probe = Probe(wire=wire)
    async with gorums_server(limits=limits, wire=wire) as (address, _):
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            await tg.start(probe.run, address, stop)
            await anyio.sleep(1.2)
            stop.set()
    assert not probe.errors, probe.errors


async def test_max_connection_age_goaway_then_close_after_grace(wire: WireSettings) -> None:
    """After max_connection_age (+-10 %) a GOAWAY max_age; the open stream
    may go on for the grace, then the connection is closed."""
    limits = ServerLimits(max_connection_age=0.5, max_connection_age_grace=0.5)
    async with gorums_server(limits=limits, wire=wire) as (address, server):
        async with connect(*address, settings=wire) as conn:
            stream = await conn.open_stream("/ordering.Gorums/NodeStream", subtype="gorums")
            start = anyio.current_time()
            await eventually(lambda: conn.core.goaway is not None, 0.55 + SLACK)
            got_goaway = anyio.current_time() - start
            assert "max_age" in conn.core.goaway.message
            assert stream.end_error is None  # still open during the grace
            with anyio.fail_after(0.5 + SLACK):
                await stream.wait_closed()
            closed = anyio.current_time() - start
        assert got_goaway >= 0.4, got_goaway
        assert closed >= got_goaway + 0.4, (got_goaway, closed)
        await connections_drop_to(server, 0)


async def test_max_connections_refuses_with_goaway(wire: WireSettings) -> None:
    """Beyond max_connections a client gets SETTINGS, GOAWAY ENHANCE_YOUR_CALM
    "too many connections" and a close; a slot frees when a connection goes."""
    limits = ServerLimits(max_connections=2)
    async with gorums_server(limits=limits, wire=wire) as (address, server):
        first = await RawClient.connect(address)
        second = await RawClient.connect(address)
        await first.handshake()
        await second.handshake()
        third = await RawClient.connect(address)
        third.h2.initiate_connection()
        await third.sock.send(third.h2.data_to_send())
        await third.wait_closed(within=SLACK)
        goaway = third.goaway()
        assert goaway is not None
        assert goaway.error_code == ErrorCodes.ENHANCE_YOUR_CALM
        assert goaway.additional_data == b"too many connections"
        await third.aclose()
        await first.aclose()
        await connections_drop_to(server, 1)
        fourth = await RawClient.connect(address)
        await fourth.handshake()  # served again
        assert fourth.goaway() is None
        await fourth.aclose()
        await second.aclose()


async def test_tcp_keepalive_on_accepted_sockets(wire: WireSettings) -> None:
    seen: list[tuple[int, int | None]] = []

    def on_connection(conn: ServerConnection) -> None:
        sock = conn.extra(anyio.abc.SocketAttribute.raw_socket)
        user_timeout = getattr(socket, "TCP_USER_TIMEOUT", None)
        seen.append((sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                     None if user_timeout is None
                     else sock.getsockopt(socket.IPPROTO_TCP, user_timeout)))

    async with gorums_server(wire=wire) as (address, server):
        server.wire._on_connection = on_connection
        client = await RawClient.connect(address)
        await client.handshake()
        await client.aclose()
    assert seen and seen[0][0] == 1
    if seen[0][1] is not None:
        assert seen[0][1] == 20_000  # keepalive_timeout, as grpc-go sets it


async def test_keepalive_closes_a_stuck_handshake_when_handshake_timeout_is_off(
        wire: WireSettings) -> None:
    limits = ServerLimits(handshake_timeout=None, keepalive_time=0.3, keepalive_timeout=0.3)
    async with gorums_server(limits=limits, wire=wire) as (address, server):
        sock = await anyio.connect_tcp(*address)
        await sock.send(b"PRI * HTTP/2.0\r\n")  # half a preface, then nothing
        took = await closed_by_server(sock, within=0.6 + SLACK)
        await anyio.aclose_forcefully(sock)
        assert took >= 0.5
        await connections_drop_to(server, 0)


async def test_max_connections_a_refused_manager_learns_why(wire: WireSettings) -> None:
    limits = ServerLimits(max_connections=1)
    probe = Probe(wire=wire)
    async with gorums_server(limits=limits, wire=wire) as (address, _):
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            await tg.start(probe.run, address, stop)  # holds the one connection
            async with g.Manager(backoff=g.Backoff(base_delay=30)) as mgr:
                node = mgr.new_configuration(
                    g.with_node_list([f"{address[0]}:{address[1]}"])).nodes()[0]
                with pytest.raises(g.StatusError) as info, anyio.fail_after(10):
                    await g.rpc_call(node.context(), Echo(value="x"), ECHO_RPC, Echo)
            stop.set()
    assert info.value.code == g.StatusCode.UNAVAILABLE
    assert "ENHANCE_YOUR_CALM: too many connections" in info.value.message
    assert not probe.errors
