"""pytest-benchmark setup of bench/: server pools, runners, quick mode, and a
side-by-side summary (ops/s, client CPU per 10k operations, ratios) printed
after pytest-benchmark's own tables.

``pytest bench/`` runs everything (a few minutes); ``pytest bench/ --quick``
(or ``BENCH_QUICK=1``) fewer rounds and sizes. Benchmarks of one workload
share a pytest-benchmark group, so its table shows them side by side.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from benchlib.runner import PurerpcUnavailable, Sample, ServerPool  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--quick", action="store_true", default=False,
                     help="bench/: fewer rounds and scaling sizes")


def quick(config: pytest.Config) -> bool:
    return bool(config.getoption("--quick") or os.environ.get("BENCH_QUICK"))


@pytest.fixture(scope="session")
def rounds(pytestconfig: pytest.Config) -> int:
    return 2 if quick(pytestconfig) else 5


class Pools:
    """Server pools per (implementation, backend), started on first use."""

    def __init__(self) -> None:
        self._pools: dict[tuple[str, str], ServerPool] = {}
        self.failures: dict[str, str] = {}

    def get(self, impl: str, backend: str, size: int) -> list[str]:
        if impl in self.failures:
            pytest.skip(self.failures[impl])
        pool = self._pools.get((impl, backend))
        if pool is None:
            pool = self._pools[(impl, backend)] = ServerPool(impl, backend)
        try:
            return pool.ensure(size)[:size]
        except PurerpcUnavailable as exc:
            self.failures[impl] = f"purerpc unavailable: {exc}"
            pytest.skip(self.failures[impl])

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()


@pytest.fixture(scope="session")
def pools() -> Iterator[Pools]:
    p = Pools()
    yield p
    p.close()


# ---- the side-by-side summary ----

RESULTS: dict[str, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
"""workload -> implementation label -> samples of the measured rounds."""



def record(workload: str, label: str, samples: list[Sample]) -> None:
    RESULTS[workload][label] += samples


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    from benchlib.report import GOALS, Cell, goals_table, pivot_table, scaling_table

    results = {w: {label: Cell(statistics.median(s.ops_per_s for s in ss),
                               statistics.median(s.cpu_per_10k for s in ss))
                   for label, ss in by.items()}
               for w, by in RESULTS.items()}
    labels: list[str] = []
    for by in RESULTS.values():
        labels += [label for label in by if label not in labels]
    tr = terminalreporter
    tr.section("side by side (median of rounds)")
    main = {w: r for w, r in results.items() if not w.startswith("F")}
    for line in pivot_table(main, labels).splitlines():
        tr.write_line(line)
    goals = [g for g in GOALS if g.workload in results]
    if goals:
        tr.write_line("")
        for line in goals_table(results, goals).splitlines():
            tr.write_line(line)
    scaling = {w: r for w, r in results.items() if w.startswith("F")}
    if scaling:
        tr.write_line("")
        tr.write_line("Scaling F: latency per call / client CPU per call (ms)")
        for line in scaling_table(scaling, labels).splitlines():
            tr.write_line(line)


def measure(benchmark: Any, runner: Any, workload: str, rounds: int, *, n: int | None = None,
            label: str | None = None) -> list[Sample]:
    """Time ``rounds`` rounds (after one warmup round) of ``workload`` with
    pytest-benchmark, record them for the summary and in ``extra_info``."""
    from benchlib.workloads import WORKLOADS

    w = WORKLOADS[workload]
    ops = n or w.round_ops
    samples: list[Sample] = []
    benchmark.group = workload
    benchmark.pedantic(lambda: samples.append(runner.run(workload, ops)), rounds=rounds,
                       iterations=1, warmup_rounds=1)
    measured = samples[1:]
    label = label or f"{runner.impl}/{runner.backend}"
    record(workload, label, measured)
    benchmark.extra_info.update({
        "ops_per_round": ops,
        "ops_per_s": statistics.median(s.ops_per_s for s in measured),
        "cpu_per_10k": statistics.median(s.cpu_per_10k for s in measured),
    })
    return measured
