"""Real partitions (network namespaces, a veth link taken down: packets vanish
silently; root only): majority calls go on under load, the cut-off node is
detected and recovers when the link comes back, and the server drops the
half-open connection the partition left (scaled server keepalive: the
default-settings case is test_vanished_client's soak); a node partitioned
before the manager exists (its first connect hangs) holds no call past its
timeout."""

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
    namespace_servers,
    record,
    reference_phase,
    scaled_server_fn,
)

import gorums_h2 as g
from gorums_h2.server import Server
from gorums_h2.testing import ECHO_RPC, Echo
from gorums_h2.testing.netns import NetLab, netns_unavailable

REASON = netns_unavailable()
pytestmark = [pytest.mark.anyio, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

PAYLOAD = 16 * 1024


async def test_partition_under_load(loop: str) -> None:
    mgrs: list[g.Manager] = []
    with NetLab() as lab:
        async with namespace_servers(lab, srv_fn=scaled_server_fn) as net, \
                leak_checked(lambda: mgrs, lambda: net.servers):
            with net.client.entered(), anyio.fail_after(90):
                async with g.Manager() as mgr:
                    mgrs.append(mgr)
                    cfg = mgr.new_configuration(
                        g.with_node_map({a: i for i, a in enumerate(net.addresses)}))
                    node = cfg.nodes()[1]
                    await all_reply(cfg)
                    load = Load(majority_call(cfg, PAYLOAD))
                    async with load.running():
                        await anyio.sleep(1.5)
                        await reference_phase(load, cfg, 1)
                        load.phase("partitioned")
                        net.links[1].down()
                        start = anyio.current_time()
                        with pytest.raises(g.StatusError):
                            await g.rpc_call(node.context(timeout=TIMEOUT),
                                             Echo(value="r"), ECHO_RPC, Echo)
                        rpc = anyio.current_time() - start
                        # longer than the ~5 s after which the send buffers used to fill
                        with anyio.move_on_after(DETECT_WITHIN + 1):
                            await node.wait_disconnected()
                        detection = anyio.current_time() - start
                        await anyio.sleep(max(0.0, 6 - detection))
                        load.phase("healed")
                        net.links[1].up()
                        healed = anyio.current_time()
                        await eventually(lambda: node.connected, within=30)
                        reconnect = anyio.current_time() - healed
                        await anyio.sleep(0.5)
                        await baseline_after(load, cfg)
                    # the client dropped the dead connection during the partition, maybe
                    # with an RST that was lost: the server's keepalive closes it
                    await eventually(lambda: _server_connections(net.servers) == 3, within=10)
                    cleanup = anyio.current_time() - healed
                    figures = check_fault_phase(load, "partitioned",
                                                scenario="partition under load (netns)", loop=loop)
                    assert rpc <= TIMEOUT + SLACK, f"the RPC took {rpc:.2f} s"
                    assert detection <= DETECT_WITHIN, f"detected after {detection:.1f} s"
                    await all_reply_again(cfg)
    record("partition under load (netns)", loop, detection=detection,
           reconnect=reconnect, rpc=rpc, server_cleanup=cleanup, **figures)


def _server_connections(servers: list[Server]) -> int:
    return sum(len(s.wire.connections) for s in servers)


async def test_partition_before_the_manager_exists(loop: str) -> None:
    mgrs: list[g.Manager] = []
    with NetLab() as lab:
        async with namespace_servers(lab) as net:
            net.links[2].down()  # node 2's SYNs vanish: its first connect hangs
            async with leak_checked(lambda: mgrs, lambda: net.servers):
                with net.client.entered(), anyio.fail_after(90):
                    async with g.Manager() as mgr:
                        mgrs.append(mgr)
                        cfg = mgr.new_configuration(
                            g.with_node_map({a: i for i, a in enumerate(net.addresses)}))
                        start = anyio.current_time()
                        reply = await majority_call(cfg)()
                        first = anyio.current_time() - start
                        assert isinstance(reply, Echo)
                        assert first <= TIMEOUT + SLACK, f"the first call took {first:.2f} s"
                        load = Load(majority_call(cfg), workers=4)
                        async with load.running("partitioned"):
                            await anyio.sleep(fault_seconds(2))
                            load.phase("healed")
                            net.links[2].up()
                            healed = anyio.current_time()
                            await eventually(lambda: cfg.nodes()[2].connected, within=40)
                            reconnect = anyio.current_time() - healed
                            await anyio.sleep(0.5)
                            await baseline_after(load, cfg)
                        figures = check_fault_phase(
                            load, "partitioned", normal="healed",
                            scenario="partition before the manager (netns)", loop=loop)
                        await all_reply_again(cfg)
    record("partition before the manager (netns)", loop, first_call=first,
           reconnect=reconnect, **figures)
