"""Users run gorums_h2 under asyncio.run and trio.run directly, not only anyio.run."""

from __future__ import annotations

import asyncio

import anyio
import trio

import gorums_h2 as g
from gorums_h2.testing import ECHO_QC, ECHO_RPC, Echo, echo_server_fn


async def _session() -> list[str]:
    got = []
    async with anyio.create_task_group() as tg:
        servers = [echo_server_fn(i) for i in range(3)]
        addrs = []
        for server in servers:
            host, port = await tg.start(server.serve_tcp, "127.0.0.1", 0)
            addrs.append(f"{host}:{port}")
        async with g.Manager() as mgr:
            cfg = mgr.new_configuration(g.with_node_list(addrs))
            got.append((await g.quorum_call(cfg.context(), Echo(value="qc"), ECHO_QC,
                                            Echo).all()).value)
            got.append((await g.rpc_call(cfg.nodes()[0].context(), Echo(value="rpc"), ECHO_RPC,
                                         Echo)).value)
            fut = g.quorum_call(cfg.context(), Echo(value="fut"), ECHO_QC, Echo).async_majority()
            got.append((await fut).value)
        for server in servers:
            server.stop()
    return got


def test_under_plain_asyncio_run() -> None:
    assert asyncio.run(_session()) == ["qc", "rpc", "fut"]


def test_under_plain_trio_run() -> None:
    assert trio.run(_session) == ["qc", "rpc", "fut"]
