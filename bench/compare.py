"""Goal check: gorums_h2 against its peers, median of 3 interleaved trials.

    python bench/compare.py            # goals A-E and scaling F (about 6 minutes)
    python bench/compare.py --quick    # shorter measurements, fewer sizes
    python bench/compare.py --json results.json --chart docs/scaling.png

For each trial, every workload is measured on every implementation in turn
(interleaved, so slow drifts of a shared machine hit all alike); each
measurement runs rounds of the workload for ``--seconds``; the reported
figure is the median of the trials. Prints the side-by-side table, the goal
ratios and the scaling table F with a linear fit of client CPU per call
against configuration size; writes the scaling chart.

The peers run in two forms (benchlib.clients): unary calls, and the
streaming form an expert would write for this traffic (one bidi stream per
server, request ids, replies matched by id); with uvloop on both sides too
where it is installed. Goals, each against the best peer figure measured
(any form, any loop): asyncio A >= 1.5x, B >= 1.5x, C >= 2x, E64k >= 1.5x;
trio C >= 0.8x our asyncio C, and every workload >= 2x purerpc's streaming
form on trio.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from benchlib.report import (  # noqa: E402
    Cell,
    goals_table,
    pivot_table,
    scaling_chart,
    scaling_table,
)
from benchlib.runner import IMPLS, PurerpcUnavailable, Sample, ServerPool, make_runner  # noqa: E402
from benchlib.workloads import F_PAYLOADS, F_SIZES, WORKLOADS  # noqa: E402

GOAL_WORKLOADS = ["A", "B", "C", "D", "E4k", "E64k"]


def _payload_name(size: int) -> str:
    return f"Fp{size // 1024}k" if size >= 1024 else f"Fp{size}"


def measure(runner: object, workload: str, seconds: float) -> Sample:
    """Rounds of ``workload`` until ``seconds`` passed (at least one round)."""
    w = WORKLOADS[workload]
    ops = cpu = spent = 0.0
    start = time.perf_counter()
    while True:
        s = runner.run(workload, w.round_ops)  # type: ignore[attr-defined]
        ops += s.ops
        cpu += s.cpu
        spent += s.seconds
        if time.perf_counter() - start >= seconds:
            return Sample(int(ops), spent, cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="0.4 s per measurement, fewer sizes")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=None,
                    help="seconds per measurement (default 1.0, quick 0.4)")
    ap.add_argument("--impls", default=",".join(f"{i}/{b}" for i, b in IMPLS),
                    help="comma-separated impl/backend labels")
    ap.add_argument("--workloads", default=None,
                    help="comma-separated workloads (default: A-E and the F sizes)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the F workloads")
    ap.add_argument("--json", default="", metavar="FILE", help="also write the results here")
    ap.add_argument("--chart", default=str(BENCH.parent / "docs" / "scaling.png"),
                    metavar="PNG", help="scaling chart path ('' for none)")
    args = ap.parse_args(argv)
    seconds = args.seconds or (0.4 if args.quick else 1.0)
    impls = [tuple(x.split("/")) for x in args.impls.split(",") if x]
    if args.workloads:
        workloads = args.workloads.split(",")
    else:
        workloads = list(GOAL_WORKLOADS)
        if not args.no_scaling:
            sizes = (3, 9, 17) if args.quick else F_SIZES
            payloads = (16, 16 * 1024, 1024 * 1024) if args.quick else F_PAYLOADS
            workloads += [f"F{n}" for n in sizes] + [_payload_name(p) for p in payloads]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workloads: {', '.join(unknown)}")
    pool_size = max(max(WORKLOADS[w].nodes for w in workloads), 3)

    pools: dict[tuple[str, str], ServerPool] = {}
    runners: dict[str, object] = {}
    samples: dict[str, dict[str, list[Sample]]] = {w: {} for w in workloads}
    try:
        for impl, backend in impls:
            label = f"{impl}/{backend}"
            pool = pools[(impl, backend)] = ServerPool(impl, backend)
            try:
                addresses = pool.ensure(pool_size)
            except PurerpcUnavailable as exc:
                print(f"skipping {label}: {exc}", file=sys.stderr)
                continue
            runners[label] = make_runner(impl, backend, addresses)
        total = args.trials * len(workloads) * len(runners)
        done = 0
        for trial in range(args.trials):
            for w in workloads:
                for label, runner in runners.items():
                    done += 1
                    print(f"\r[{done}/{total}] trial {trial + 1}: {w} {label}        ",
                          end="", file=sys.stderr, flush=True)
                    runner.run(w, max(WORKLOADS[w].round_ops // 10, 1))  # type: ignore[attr-defined]
                    samples[w].setdefault(label, []).append(measure(runner, w, seconds))
        print(file=sys.stderr)
    finally:
        for runner in runners.values():
            runner.close()  # type: ignore[attr-defined]
        for pool in pools.values():
            pool.close()

    results = {w: {label: Cell(statistics.median(s.ops_per_s for s in ss),
                               statistics.median(s.cpu_per_10k for s in ss))
                   for label, ss in by.items()}
               for w, by in samples.items()}
    labels = list(runners)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# {stamp}, {platform.python_implementation()} {platform.python_version()}, "
          f"median of {args.trials} interleaved trials of {seconds:g}s")
    goal_rows = {w: r for w, r in results.items() if not w.startswith("F")}
    print(pivot_table(goal_rows, labels))
    print()
    print(goals_table(results))
    scaling = {w: r for w, r in results.items() if w.startswith("F")}
    if scaling:
        print()
        print("Scaling F: latency per call / client CPU per call (ms)")
        print(scaling_table(scaling, labels))
        if args.chart and scaling_chart(
                scaling, labels, Path(args.chart),
                f"gorums_h2 quorum call scaling vs peers ({stamp}, preliminary)"):
            print(f"\nchart: {args.chart}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "date": stamp, "trials": args.trials, "seconds": seconds,
            "results": {w: {label: vars(c) for label, c in r.items()}
                        for w, r in results.items()},
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
