"""Slow links: majority latency follows the second-fastest node, not the slowest."""

from __future__ import annotations

import anyio
import pytest
from _kit import SLACK, Load, all_reply, majority_call, proxied_configuration, record

pytestmark = pytest.mark.anyio

ONE_WAY = (0.005, 0.05, 0.2)  # per node and direction: round trips 10 ms, 100 ms, 400 ms


async def test_majority_latency_follows_the_second_fastest_node(loop: str) -> None:
    async with proxied_configuration() as env:
        with anyio.fail_after(60):
            await all_reply(env.cfg)
            for proxy, delay in zip(env.proxies, ONE_WAY, strict=True):
                proxy.delay(delay, jitter=delay / 10)
            load = Load(majority_call(env.cfg), workers=4)
            async with load.running("slow links"):
                await anyio.sleep(3)
            slow = load["slow links"]
            median = slow.median_latency()
            # a majority is nodes 0 and 1: the 100 ms round trip, never the 400 ms one
            assert slow.failed == slow.hung == 0, slow.summary()
            assert 2 * ONE_WAY[1] <= median < 2 * ONE_WAY[2] - 0.1, slow.summary()
            assert slow.overshoot <= SLACK
            # (node 2's replies come after the calls ended: its latency is not updated)
            fast, second = (n.latency for n in env.cfg.nodes()[:2])
            assert fast is not None and second is not None and fast < second
    record("slow links", loop, median_latency=median,
           overshoot=slow.overshoot, success=slow.success)
