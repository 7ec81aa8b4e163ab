"""A stalled node (its peer stops reading: a proxy stall, a SIGSTOP'd server
process) never blocks majority calls: they go on at their normal pace, and no
call outlives its 1 s timeout by more than 0.5 s; a multicast does not wait
for the node, an ordered RPC to it ends by its timeout."""

from __future__ import annotations

import anyio
import pytest
from _kit import (
    Load,
    all_reply,
    all_reply_again,
    baseline_after,
    calls_to_a_stalled_node_end_in_time,
    check_fault_phase,
    eventually,
    fault_seconds,
    leak_checked,
    majority_call,
    proxied_configuration,
    record,
    reference_phase,
    server_processes,
)

import gorums_h2 as g

pytestmark = pytest.mark.anyio

PAYLOAD = 16 * 1024  # the issue's: the stalled node's queue fills within a second


async def test_proxy_stalled_node_does_not_block_majority_calls(loop: str) -> None:
    async with proxied_configuration() as env:
        with anyio.fail_after(60):
            await all_reply(env.cfg)
            load = Load(majority_call(env.cfg, PAYLOAD))
            async with load.running():
                await anyio.sleep(1.5)
                await reference_phase(load, env.cfg, 2)
                load.phase("stalled")
                env.proxies[2].stall()
                await anyio.sleep(fault_seconds(2))
                await calls_to_a_stalled_node_end_in_time(env.cfg, 2)
                await anyio.sleep(0.5)
                load.phase("healed")
                env.proxies[2].heal()
                await anyio.sleep(0.5)
                await baseline_after(load, env.cfg)
            figures = check_fault_phase(load, "stalled", scenario="stalled node (proxy)", loop=loop)
            # the node is usable again once its backlog drained
            await eventually(lambda: env.cfg.nodes()[2].connected, within=20)
            await all_reply_again(env.cfg)
    record("stalled node (proxy)", loop, **figures)


async def test_sigstopped_server_does_not_block_majority_calls(loop: str) -> None:
    mgrs: list[g.Manager] = []
    with server_processes(3, loop) as procs:
        async with leak_checked(lambda: mgrs), g.Manager() as mgr:
            mgrs.append(mgr)
            cfg = mgr.new_configuration(
                g.with_node_map({a: i for i, a in enumerate(procs.addresses)}))
            with anyio.fail_after(60):
                await all_reply(cfg)
                load = Load(majority_call(cfg, PAYLOAD))
                async with load.running():
                    await anyio.sleep(1.5)
                    await reference_phase(load, cfg, 2)
                    load.phase("stopped")
                    procs.stop_signal(2)
                    await anyio.sleep(fault_seconds(2))
                    await calls_to_a_stalled_node_end_in_time(cfg, 2)
                    await anyio.sleep(0.5)
                    load.phase("continued")
                    procs.continue_signal(2)
                    await anyio.sleep(0.5)
                    await baseline_after(load, cfg)
                figures = check_fault_phase(load, "stopped", scenario="stalled node (SIGSTOP)",
                                            loop=loop)
                await eventually(lambda: cfg.nodes()[2].connected, within=20)
                await all_reply_again(cfg)
    record("stalled node (SIGSTOP)", loop, **figures)
