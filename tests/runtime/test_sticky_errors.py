"""A stored error raised again and again (a down node's last error, a broken
connection's sticky error) does not carry the frames of every earlier raise."""

from __future__ import annotations

import socket
from types import TracebackType

import anyio
import pytest

import gorums_h2 as g
from gorums_h2.testing import ECHO_QC, ECHO_RPC, Echo, test_servers

pytestmark = pytest.mark.anyio


def depth(tb: TracebackType | None) -> int:
    n = 0
    while tb is not None:
        n, tb = n + 1, tb.tb_next
    return n


async def test_a_down_nodes_error_does_not_grow_with_each_call() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound, not listening: every connect is refused
        dead = f"127.0.0.1:{held.getsockname()[1]}"
        async with test_servers(2) as servers, \
                g.Manager(backoff=g.Backoff(base_delay=60)) as mgr:
            cfg = mgr.new_configuration(g.with_node_list([*servers.addresses, dead]))
            node = next(n for n in cfg.nodes() if n.port == held.getsockname()[1])
            with anyio.fail_after(10):
                while node.last_err is None:  # noqa: ASYNC110 (the channel's first attempt)
                    await anyio.sleep(0.01)
            depths = []
            for _ in range(200):
                await g.quorum_call(cfg.context(timeout=5), Echo(), ECHO_QC, Echo).majority()
                with pytest.raises(g.StatusError) as info:
                    await g.rpc_call(node.context(timeout=5), Echo(), ECHO_RPC, Echo)
                depths.append(depth(info.value.__traceback__))
            # before: each raise added its frames to the one stored error (~1,000 here)
            assert max(depths) < 30, depths[-5:]
            assert depth(node.last_err.__traceback__) < 30  # type: ignore[union-attr]
