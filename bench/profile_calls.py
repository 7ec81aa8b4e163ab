"""Where a gorums_h2 client spends its time per call.

    python bench/profile_calls.py --call rpc --backend asyncio
    python bench/profile_calls.py --call quorum --nodes 3 --backend trio --top 30

Against servers in separate processes, it runs ``--n`` calls (ordered RPC to
one node, or quorum calls to ``--nodes`` nodes, majority) three times:

1. plain: client CPU and wall microseconds per call;
2. instrumented: event-loop iterations and task steps per call (asyncio:
   callbacks run, which include task steps; trio: a trio Instrument);
3. under cProfile: the top functions by own time (tottime), and own time
   summed per area (h2, hpack/hyperframe, protobuf, the event loop, anyio,
   gorums_h2.wire, gorums_h2 runtime ...), per call.

``--pstats FILE`` keeps the profile for ``python -m pstats`` or snakeviz;
``--timer cpu`` profiles CPU time instead of wall time (a send's kernel work
counts, time spent waiting for a CPU on a loaded machine does not).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

import anyio  # noqa: E402
from benchlib.clients import OursClient  # noqa: E402
from benchlib.runner import ServerPool  # noqa: E402

IDLE = "idle: waiting in epoll/select"
AREAS = [  # (area, substring of the file path or function); first match wins
    (IDLE, "of 'select.epoll' objects"),
    (IDLE, "of 'select.poll' objects"),
    (IDLE, "built-in method select.select"),
    ("h2 (state machine, frames)", "/h2/"),
    ("hpack/hyperframe", "/hpack/"),
    ("hpack/hyperframe", "/hyperframe/"),
    ("protobuf", "google/protobuf"),
    ("protobuf", "SerializeToString"),
    ("protobuf", "FromString"),
    ("gorums_h2.wire", "gorums_h2/wire/"),
    ("gorums_h2.codec", "gorums_h2/codec/"),
    ("gorums_h2 runtime", "gorums_h2/"),
    ("anyio", "/anyio/"),
    ("trio", "/trio/"),
    ("asyncio", "/asyncio/"),
    ("sockets/selectors", "selectors.py"),
    ("sockets/selectors", "socket"),
    ("sockets/selectors", "'poll'"),
    ("sockets/selectors", "epoll"),
    ("benchmark driver", "bench/"),
]


def area_of(func: tuple[str, int, str]) -> str:
    text = f"{func[0]}:{func[2]}"
    for area, needle in AREAS:
        if needle in text:
            return area
    return "other (builtins, C)"


class _Counter:
    """Counts loop iterations and task steps."""

    def __init__(self) -> None:
        self.iterations = 0
        self.steps = 0

    # trio.abc.Instrument hooks
    def before_io_wait(self, timeout: float) -> None:
        self.iterations += 1

    def before_task_step(self, task: Any) -> None:
        self.steps += 1


async def _calls(client: OursClient, call: str, nodes: int, n: int, payload: int) -> None:
    msg = client.message(bytes(payload))
    if call == "rpc":
        for _ in range(n):
            await client.rpc(msg)
    else:
        q = nodes // 2 + 1
        for _ in range(n):
            await client.quorum(nodes, q, msg)


def _asyncio_counting(counter: _Counter) -> Any:
    """Wrap the running asyncio loop's ``_run_once`` and ``Handle._run``."""
    import asyncio
    import asyncio.events

    loop = asyncio.get_running_loop()
    run_once = loop._run_once  # type: ignore[attr-defined]
    handle_run = asyncio.events.Handle._run

    def counting_run_once() -> None:
        counter.iterations += 1
        run_once()

    def counting_handle_run(self: Any) -> None:
        counter.steps += 1
        handle_run(self)

    loop._run_once = counting_run_once  # type: ignore[attr-defined]
    asyncio.events.Handle._run = counting_handle_run  # type: ignore[method-assign]

    def undo() -> None:
        loop._run_once = run_once  # type: ignore[attr-defined]
        asyncio.events.Handle._run = handle_run  # type: ignore[method-assign]

    return undo


async def run(args: argparse.Namespace, addresses: list[str], counter: _Counter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with OursClient(addresses) as client:
        await _calls(client, args.call, args.nodes, min(args.n, 500), args.payload)  # warm up
        # 1. CPU and wall time, nothing instrumented
        cpu0, t0 = time.process_time(), time.perf_counter()
        await _calls(client, args.call, args.nodes, args.n, args.payload)
        out["cpu_us"] = (time.process_time() - cpu0) / args.n * 1e6
        out["wall_us"] = (time.perf_counter() - t0) / args.n * 1e6
        # 2. loop iterations and task steps
        if args.backend == "asyncio":
            undo = _asyncio_counting(counter)
        else:
            import trio

            trio.lowlevel.add_instrument(counter)  # type: ignore[arg-type]

            def undo() -> None:
                trio.lowlevel.remove_instrument(counter)  # type: ignore[arg-type]

        counter.iterations = counter.steps = 0
        await _calls(client, args.call, args.nodes, args.n, args.payload)
        undo()
        out["iterations"] = counter.iterations / args.n
        out["steps"] = counter.steps / args.n
        # 3. cProfile
        # CPU time (user + system, so a send's kernel work counts, waiting
        # for the CPU does not) or wall time per function
        profiler = (cProfile.Profile(time.process_time) if args.timer == "cpu"
                    else cProfile.Profile())
        profiler.enable()
        await _calls(client, args.call, args.nodes, args.n, args.payload)
        profiler.disable()
        out["profile"] = profiler
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--call", choices=("rpc", "quorum"), default="rpc")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    ap.add_argument("--n", type=int, default=3000, help="calls per phase")
    ap.add_argument("--payload", type=int, default=16, help="payload bytes")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--pstats", default="", metavar="FILE")
    ap.add_argument("--timer", choices=("wall", "cpu"), default="wall",
                    help="the profile's clock: wall time (default; idle time shows as "
                         "poll) or this process's CPU time (steadier on a loaded machine)")
    args = ap.parse_args(argv)
    nodes = 1 if args.call == "rpc" else args.nodes
    counter = _Counter()
    pool = ServerPool("gorums_h2", args.backend)
    try:
        addresses = pool.ensure(max(nodes, 1))[:nodes]
        out = anyio.run(run, args, addresses, counter, backend=args.backend)
    finally:
        pool.close()
    what = "ordered RPC (1 node)" if args.call == "rpc" else f"quorum call ({nodes} nodes)"
    print(f"# {what} on {args.backend}, {args.n} calls, {args.payload}-byte payload")
    print(f"CPU per call: {out['cpu_us']:.1f} us   wall per call: {out['wall_us']:.1f} us")
    steps = "callbacks run (incl. task steps)" if args.backend == "asyncio" else "task steps"
    print(f"event-loop iterations per call: {out['iterations']:.2f}   "
          f"{steps} per call: {out['steps']:.2f}")
    profiler: cProfile.Profile = out["profile"]
    if args.pstats:
        profiler.dump_stats(args.pstats)
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    by_area: dict[str, float] = defaultdict(float)
    for func, (_cc, _nc, tt, _ct, _callers) in raw.items():
        by_area[area_of(func)] += tt
    idle = by_area.pop(IDLE, 0.0)
    total = sum(by_area.values())
    print(f"\nown time per area under cProfile: {total / args.n * 1e6:.1f} us per call busy "
          f"(the profiler inflates small functions), {idle / args.n * 1e6:.1f} us idle in poll:")
    for area, tt in sorted(by_area.items(), key=lambda kv: -kv[1]):
        print(f"  {area:<30} {tt / args.n * 1e6:8.1f} us/call  {100 * tt / total:5.1f} %")
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(args.top)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    print(f"\ntop {args.top} functions by tottime (ncalls are for {args.n} calls):")
    print("\n".join(lines[start:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
