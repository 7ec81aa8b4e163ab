"""A vanished client (its host dies without a FIN or RST: link down, process
killed, namespace deleted) loses its server connections: within 60 s with the
server's default settings, within a few seconds with scaled ones. The proxy
variant (a black hole swallowing the client's close) needs no root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from _kit import eventually, leak_checked, record, scaled_server_fn

import gorums_h2 as g
from gorums_h2.server import Server
from gorums_h2.testing import FaultProxy, echo_server_fn
from gorums_h2.testing.netns import NetLab, netns_unavailable

REASON = netns_unavailable()
needs_netns = pytest.mark.skipif(REASON is not None, reason=REASON or "")
pytestmark = pytest.mark.anyio

CLIENT = Path(__file__).with_name("_vanishing_client.py")
CONNECTIONS = 20
DEFAULT_WITHIN = 60.0
SCALED_WITHIN = 5.0  # keepalive_time + keepalive_timeout + margin


def _server(scaled: bool) -> Server:
    return scaled_server_fn(0) if scaled else echo_server_fn(0)


async def _vanish_in_namespace(loop: str, scaled: bool, within: float) -> float:
    server = _server(scaled)
    with NetLab() as lab:
        client, host = lab.host("client"), lab.host("server")
        link = lab.link(client, host)
        async with leak_checked(servers=lambda: [server]), anyio.create_task_group() as tg:
            with host.entered():
                _, port = await tg.start(server.serve_tcp, link.b_addr, 0)
            proc = client.popen([sys.executable, str(CLIENT), f"{link.b_addr}:{port}",
                                 str(CONNECTIONS), loop],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            line = await anyio.to_thread.run_sync(proc.stdout.readline)
            assert line.strip() == "READY", proc.stderr.read() if proc.stderr else ""
            await eventually(lambda: len(server.wire.connections) == CONNECTIONS)
            link.down(at=client)  # nothing the client sends from now on arrives
            client.delete()       # kill -9 the client and remove its host
            gone = anyio.current_time()
            await eventually(lambda: not server.wire.connections, within=within + 5)
            closed = anyio.current_time() - gone
            server.stop()
    assert closed <= within, f"the dead connections were closed after {closed:.1f} s"
    return closed


@needs_netns
async def test_vanished_client_scaled_settings(loop: str) -> None:
    closed = await _vanish_in_namespace(loop, scaled=True, within=SCALED_WITHIN)
    record("vanished client, keepalive 1 s + 1 s (netns)", loop, detection=closed)


@needs_netns
@pytest.mark.soak
async def test_vanished_client_default_settings(loop: str) -> None:
    closed = await _vanish_in_namespace(loop, scaled=False, within=DEFAULT_WITHIN)
    record("vanished client, defaults (netns)", loop, detection=closed)


async def test_vanished_client_behind_a_black_hole(loop: str) -> None:
    server = _server(scaled=True)
    async with leak_checked(servers=lambda: [server]), anyio.create_task_group() as tg:
        _, port = await tg.start(server.serve_tcp, "127.0.0.1", 0)
        async with FaultProxy(("127.0.0.1", port)) as proxy:
            async with g.Manager() as mgr:
                cfg = mgr.new_configuration(g.with_node_map({proxy.address: 0}))
                with anyio.fail_after(10):
                    await cfg.nodes()[0].wait_connected()
                await eventually(lambda: len(server.wire.connections) == 1)
                proxy.black_hole()  # the client's goodbye is swallowed
            gone = anyio.current_time()
            await eventually(lambda: not server.wire.connections, within=SCALED_WITHIN + 5)
            closed = anyio.current_time() - gone
        server.stop()
    assert closed <= SCALED_WITHIN, f"the dead connection was closed after {closed:.1f} s"
    record("vanished client, keepalive 1 s + 1 s (proxy)", loop, detection=closed)
