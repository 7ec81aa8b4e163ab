"""A black-holed node (the connection stays open, nothing comes back): with
default settings it is reported broken within 10 s, its pending calls fail
with ConnectionBroken, majority calls never notice, and it reconnects after
the network heals. A node black-holed before the manager exists (its first
connect hangs) does not hold a call past its timeout."""

from __future__ import annotations

import anyio
import pytest
from _kit import (
    DETECT_WITHIN,
    SLACK,
    TIMEOUT,
    Load,
    all_reply,
    all_reply_again,
    baseline_after,
    check_fault_phase,
    eventually,
    fault_seconds,
    leak_checked,
    majority_call,
    proxied_configuration,
    record,
    reference_phase,
)

import gorums_h2 as g
from gorums_h2.testing import ECHO_RPC, Echo, hanging_address, test_servers
from gorums_h2.wire.errors import ConnectionBroken

pytestmark = pytest.mark.anyio


async def test_black_holed_node_is_reported_within_10s_and_reconnects(
        loop: str) -> None:
    async with proxied_configuration() as env:
        node = env.cfg.nodes()[2]
        with anyio.fail_after(90):
            await all_reply(env.cfg)
            load = Load(majority_call(env.cfg), workers=4)
            async with load.running():
                await anyio.sleep(1)
                await reference_phase(load, env.cfg, 2)
                load.phase("black-holed")
                env.proxies[2].black_hole()
                start = anyio.current_time()
                # an ordered RPC to the node ends by its timeout
                with pytest.raises(g.StatusError):
                    await g.rpc_call(node.context(timeout=TIMEOUT), Echo(value="r"),
                                     ECHO_RPC, Echo)
                assert anyio.current_time() - start <= TIMEOUT + SLACK
                # a call waiting for the node learns it is broken, and why
                with pytest.raises(g.IncompleteError) as info:
                    await all_reply(env.cfg, call_timeout=DETECT_WITHIN + 20)
                detection = anyio.current_time() - start
                err = info.value.node_errors[2]
                assert isinstance(err, ConnectionBroken), repr(err)
                assert detection <= DETECT_WITHIN, f"reported after {detection:.1f} s: {err}"
                await anyio.sleep(max(0.0, 3 - detection))
                load.phase("healed")
                env.proxies[2].heal()
                healed = anyio.current_time()
                await eventually(lambda: node.connected, within=30)
                reconnect = anyio.current_time() - healed
                await anyio.sleep(0.5)
                await baseline_after(load, env.cfg)
            figures = check_fault_phase(load, "black-holed", scenario="black-holed node (proxy)",
                                        loop=loop)
            await all_reply_again(env.cfg)
    record("black-holed node (proxy)", loop, detection=detection,
           reconnect=reconnect, reason=str(err), **figures)




async def test_first_connect_that_hangs_does_not_hold_calls(loop: str) -> None:
    """Node 2's address drops SYNs (a full listen backlog) from the start."""
    mgrs: list[g.Manager] = []
    async with leak_checked(lambda: mgrs), test_servers(3) as servers:
        with hanging_address() as nowhere, anyio.fail_after(60):
            async with g.Manager() as mgr:
                mgrs.append(mgr)
                healthy = mgr.new_configuration(
                    g.with_node_map({a: i for i, a in enumerate(servers.addresses)}))
                await all_reply(healthy)
                load = Load(majority_call(healthy), workers=4)
                async with load.running():
                    await anyio.sleep(1.5)
                    await reference_phase(load, healthy, 2)
                    # a configuration with a node whose first connect hangs
                    cfg = mgr.new_configuration(g.with_node_map(
                        {servers.addresses[0]: 0, servers.addresses[1]: 1, nowhere: 3}))
                    load.call = majority_call(cfg)
                    load.phase("first connect hangs")
                    start = anyio.current_time()
                    reply = await majority_call(cfg)()
                    first = anyio.current_time() - start
                    await anyio.sleep(fault_seconds(2))
                    await baseline_after(load, healthy, majority_call(healthy))
                assert isinstance(reply, Echo)
                assert first <= TIMEOUT + SLACK, f"the first call took {first:.2f} s"
                figures = check_fault_phase(load, "first connect hangs",
                                            scenario="first connect hangs (backlog)", loop=loop)
                # an ordered RPC to the node ends by its timeout too
                start = anyio.current_time()
                with pytest.raises(g.StatusError):
                    await g.rpc_call(cfg.nodes()[2].context(timeout=TIMEOUT), Echo(value="r"),
                                     ECHO_RPC, Echo)
                rpc = anyio.current_time() - start
                assert rpc <= TIMEOUT + SLACK, f"the RPC took {rpc:.2f} s"
    record("first connect hangs (backlog)", loop, first_call=first, rpc=rpc,
           **figures)
