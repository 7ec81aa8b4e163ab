"""``gorums-h2 demo``: three storage servers and a narrated quorum session.

Writes and reads by quorum, a node stopped while the majority keeps
answering, the node restarted (empty) and caught up by read repair. Real TCP
servers on free local ports in this process; everything is stopped at the end.
"""

from __future__ import annotations

import argparse
import sys
import time

import anyio
import anyio.abc
from google.protobuf.timestamp_pb2 import Timestamp

BACKENDS = ("asyncio", "trio")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="run a narrated quorum-call session on 3 local servers",
                            description=__doc__)
    parser.add_argument("--backend", choices=BACKENDS, default="asyncio")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        anyio.run(demo, backend=args.backend)
    except Exception as exc:  # a demo that fails says so and exits non-zero
        print(f"\ndemo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def say(text: str = "") -> None:
    print(text, flush=True)


class _Cluster:
    """Three storage servers that can be stopped and restarted on their ports."""

    def __init__(self, tg: anyio.abc.TaskGroup) -> None:
        self.tg = tg
        self.servers: list[object] = []
        self.addresses: list[str] = []

    async def start(self, index: int, port: int = 0) -> str:
        from gorums_h2.examples.storage.server import new_storage_server

        server = new_storage_server()
        host, bound = await self.tg.start(server.serve_tcp, "127.0.0.1", port)
        address = f"{host}:{bound}"
        if index < len(self.servers):
            self.servers[index] = server
        else:
            self.servers.append(server)
            self.addresses.append(address)
        return address

    def stop(self, index: int) -> None:
        self.servers[index].stop()  # type: ignore[attr-defined]


def _stamp(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


async def demo() -> None:
    import gorums_h2
    from gorums_h2.examples.storage import storage_gorums as sg
    from gorums_h2.examples.storage.storage_pb2 import ReadRequest, WriteRequest

    backend = "trio" if "trio" in sys.modules and _running_trio() else "asyncio"
    say(f"gorums-h2 {gorums_h2.__version__} demo: 3 storage servers, one quorum client ({backend})")
    say()
    async with anyio.create_task_group() as tg:
        cluster = _Cluster(tg)
        for i in range(3):
            await cluster.start(i)
        backoff = gorums_h2.Backoff(base_delay=0.05, max_delay=0.5)
        async with gorums_h2.Manager(backoff=backoff,
                                     metadata={"client-name": "gorums-h2-demo"}) as mgr:
            cfg = mgr.new_configuration(gorums_h2.with_node_list(cluster.addresses))
            names = {n.id: f"node {i} ({n.address})" for i, n in enumerate(cfg.nodes())}
            for node in cfg.nodes():
                say(f"  started {names[node.id]}, node id {node.id}")
            say()

            say("1. Write x='hello' to a majority (WriteQC):")
            t0 = time.perf_counter()
            reply = await sg.write_qc(cfg.context(), WriteRequest(
                key="x", value="hello", time=_stamp(1))).majority()
            say(f"   a majority acknowledged, new={reply.new} "
                f"({(time.perf_counter() - t0) * 1e3:.1f} ms)")

            say("2. Read x from a majority (ReadQC):")
            reply_r = await sg.read_qc(cfg.context(), ReadRequest(key="x")).majority()
            say(f"   x = {reply_r.value!r}")

            victim = cfg.nodes()[2]
            index = cluster.addresses.index(victim.address)
            say(f"3. Stopping {names[victim.id]} ...")
            cluster.stop(index)
            with anyio.fail_after(5):
                await victim.wait_disconnected()
            say(f"   the client noticed: {victim.last_err}")

            say("4. Read x again with one node down:")
            reply_r = await sg.read_qc(cfg.context(), ReadRequest(key="x")).majority()
            say(f"   the majority still answers: x = {reply_r.value!r}")

            say("5. Write x='world' (the stopped node misses it):")
            await sg.write_qc(cfg.context(), WriteRequest(key="x", value="world",
                                                          time=_stamp(2))).majority()
            try:
                await sg.read_qc(cfg.context(), ReadRequest(key="x")).all()
            except gorums_h2.IncompleteError as exc:
                failed = ", ".join(names[n] for n in exc.node_errors)
                say(f"   a read from *all* nodes fails as it should: {failed} unavailable")

            say(f"6. Restarting {names[victim.id]} on the same port (its store is empty) ...")
            await cluster.start(index, victim.port)
            t0 = time.perf_counter()
            with anyio.fail_after(10):
                await victim.wait_connected()
            say(f"   reconnected by itself after {(time.perf_counter() - t0) * 1e3:.0f} ms")

            say("7. Read x from every node:")
            newest = None
            stale = []
            async for r in sg.read_qc(cfg.context(), ReadRequest(key="x")):
                if r.err is not None or r.value is None:
                    say(f"   {names[r.node_id]}: error {r.err}")
                    continue
                shown = repr(r.value.value) if r.value.OK else "(nothing)"
                say(f"   {names[r.node_id]}: {shown}")
                if not r.value.OK:
                    stale.append(r.node_id)
                elif newest is None or r.value.time.seconds > newest.time.seconds:
                    newest = r.value
            assert newest is not None

            say(f"8. Read repair: write the newest value back to all nodes "
                f"({len(stale)} stale) ...")
            await sg.write_qc(cfg.context(), WriteRequest(key="x", value=newest.value,
                                                          time=newest.time)).all()
            reply_r = await sg.read_qc(cfg.context(), ReadRequest(key="x")).all()
            say(f"   every node now answers x = {reply_r.value!r}: caught up")
        tg.cancel_scope.cancel()
    say()
    say("done: servers stopped, connections closed.")


def _running_trio() -> bool:
    try:
        import trio

        trio.lowlevel.current_task()
    except Exception:
        return False
    return True
