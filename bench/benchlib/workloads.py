"""The end-to-end workloads, written once against a small client interface.

Every implementation (gorums_h2, grpclib, grpcio, purerpc) provides a client
with::

    message(payload: bytes) -> msg           # its request message
    async rpc(msg) -> None                   # one call to node 0, wait for the reply
    async quorum(nodes, q, msg) -> None      # call nodes 0..nodes-1, return at the q-th reply
    async multicast_round(nodes, count, msg) # count one-way sends to each node, then
                                             # wait until every node received them

This module imports only anyio and the standard library: it also runs in
purerpc's virtual environment.

Workloads (16-byte payloads unless stated):

* A — ping-pong ordered RPC to one node;
* B — 100 calls in flight to one node;
* C — quorum call to 3 nodes, majority (peers: 3 unary calls at once,
  return at the 2nd reply, the 3rd completes in the background);
* D — multicast to 3 nodes (peers: one-way messages on an open client stream
  to each of the 3 servers; a round ends when every server has them);
* E4k / E64k — ping-pong with 4 KiB / 64 KiB payloads (MB/s one way);
* F<n> — quorum call to n nodes, majority; Fp<size> — quorum call to 3 nodes
  with a payload of that size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import anyio

__all__ = ["F_PAYLOADS", "F_SIZES", "WORKLOADS", "Workload", "run_workload", "timed_run"]


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    kind: str  # rpc | inflight | quorum | multicast
    payload: int = 16
    nodes: int = 1
    round_ops: int = 200  # operations per measured round
    inflight: int = 1

    @property
    def quorum(self) -> int:
        return self.nodes // 2 + 1

    @property
    def throughput_unit(self) -> str:
        return "MB/s" if self.name.startswith("E") else "ops/s"


F_SIZES = (3, 5, 9, 17, 33)
F_PAYLOADS = (16, 1024, 16 * 1024, 256 * 1024, 1024 * 1024)


def _f_workloads() -> dict[str, Workload]:
    out = {}
    for n in F_SIZES:
        out[f"F{n}"] = Workload(f"F{n}", f"quorum call to {n} nodes, majority", "quorum",
                                nodes=n, round_ops=100 if n <= 9 else 50)
    for size in F_PAYLOADS:
        label = f"{size // 1024}k" if size >= 1024 else f"{size}"
        rounds = 100 if size <= 16 * 1024 else (40 if size <= 256 * 1024 else 10)
        out[f"Fp{label}"] = Workload(f"Fp{label}", f"quorum call to 3 nodes, {size} B payload",
                                     "quorum", payload=size, nodes=3, round_ops=rounds)
    return out


WORKLOADS: dict[str, Workload] = {
    "A": Workload("A", "ping-pong ordered RPC, one node", "rpc"),
    "B": Workload("B", "100 calls in flight, one node", "inflight", round_ops=1000,
                  inflight=100),
    "C": Workload("C", "quorum call, 3 nodes, majority", "quorum", nodes=3),
    "D": Workload("D", "multicast to 3 nodes", "multicast", nodes=3, round_ops=1000),
    "E4k": Workload("E4k", "ping-pong, 4 KiB payload", "rpc", payload=4096),
    "E64k": Workload("E64k", "ping-pong, 64 KiB payload", "rpc", payload=65536, round_ops=100),
    **_f_workloads(),
}


async def run_workload(client: Any, w: Workload, n: int) -> None:
    """Run ``n`` operations of ``w`` on ``client``."""
    msg = client.message(bytes(w.payload))
    if w.kind == "rpc":
        rpc = client.rpc
        for _ in range(n):
            await rpc(msg)
    elif w.kind == "inflight":
        rpc = client.rpc
        per_task, extra = divmod(n, w.inflight)

        async def worker(count: int) -> None:
            for _ in range(count):
                await rpc(msg)

        async with anyio.create_task_group() as tg:
            for i in range(w.inflight):
                tg.start_soon(worker, per_task + (1 if i < extra else 0))
    elif w.kind == "quorum":
        quorum = client.quorum
        nodes, q = w.nodes, w.quorum
        for _ in range(n):
            await quorum(nodes, q, msg)
    elif w.kind == "multicast":
        await client.multicast_round(w.nodes, n, msg)
    else:
        raise ValueError(f"unknown workload kind {w.kind!r}")


async def timed_run(client: Any, name: str, n: int) -> float:
    """Run ``n`` operations of workload ``name``; the wall seconds it took."""
    w = WORKLOADS[name]
    t0 = time.perf_counter()
    await run_workload(client, w, n)
    return time.perf_counter() - t0
