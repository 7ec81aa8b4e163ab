"""A server killed (SIGKILL) and restarted under load: majority calls go on,
the node is used again once it is back, no call outlives its timeout."""

from __future__ import annotations

import anyio
import pytest
from _kit import (
    Load,
    all_reply,
    all_reply_again,
    baseline_after,
    check_fault_phase,
    eventually,
    fault_seconds,
    leak_checked,
    majority_call,
    record,
    reference_phase,
    server_processes,
)

import gorums_h2 as g

pytestmark = pytest.mark.anyio


async def test_kill_and_restart_under_load(loop: str) -> None:
    mgrs: list[g.Manager] = []
    with server_processes(3, loop) as procs:
        async with leak_checked(lambda: mgrs), g.Manager() as mgr:
            mgrs.append(mgr)
            cfg = mgr.new_configuration(
                g.with_node_map({a: i for i, a in enumerate(procs.addresses)}))
            node = cfg.nodes()[2]
            with anyio.fail_after(60):
                await all_reply(cfg)
                load = Load(majority_call(cfg, 1024))
                async with load.running():
                    await anyio.sleep(1.5)
                    await reference_phase(load, cfg, 2)
                    load.phase("killed")
                    procs.kill(2)
                    killed = anyio.current_time()
                    await node.wait_disconnected()
                    detection = anyio.current_time() - killed
                    await anyio.sleep(fault_seconds(2))
                    load.phase("restarted")
                    await anyio.to_thread.run_sync(procs.restart, 2)
                    restarted = anyio.current_time()
                    await eventually(lambda: node.connected, within=20)
                    reconnect = anyio.current_time() - restarted
                    await anyio.sleep(0.5)
                    await baseline_after(load, cfg)
                figures = check_fault_phase(load, "killed", scenario="kill and restart", loop=loop)
                await all_reply_again(cfg)
    record("kill and restart", loop, detection=detection, reconnect=reconnect,
           **figures)
