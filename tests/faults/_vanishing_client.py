"""A client that opens N NodeStreams to one server, says READY and waits to be killed.

``python _vanishing_client.py HOST:PORT N LOOP`` (asyncio, trio or uvloop) (run inside a namespace
by test_vanished_client.py); exits by itself after 120 s.
"""

from __future__ import annotations

import sys
from contextlib import AsyncExitStack

import anyio

import gorums_h2 as g


async def main(address: str, n: int) -> None:
    async with AsyncExitStack() as stack:
        for _ in range(n):
            mgr = await stack.enter_async_context(g.Manager())
            cfg = mgr.new_configuration(g.with_node_map({address: 0}))
            with anyio.fail_after(20):
                await cfg.nodes()[0].wait_connected()
        print("READY", flush=True)
        await anyio.sleep(120)


if __name__ == "__main__":
    from gorums_h2.benchmark.server import run_backend

    run_backend(main, sys.argv[1], int(sys.argv[2]), backend=sys.argv[3])
