"""Benchmark statistics: latency samples, Welford mean/variance, results.

Latencies are recorded in nanoseconds (as Go's benchmark does); a
:class:`BenchResult` reports them in milliseconds. Go servers' ``Result``
messages are combined as Go's ``StopServerBenchmarkQF`` does (pooled
variance, totals averaged over the servers).
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gorums_h2.benchmark.benchmark_pb2 import MemoryStat, Result

__all__ = ["BenchResult", "LatencyStats", "combine_server_results", "peak_rss_mib", "percentile"]

NS_PER_MS = 1_000_000


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (``getrusage`` maxrss)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def percentile(ordered: Sequence[int], q: float) -> float:
    """The ``q``-quantile (0..1) of sorted samples, nearest rank; NaN when empty."""
    if not ordered:
        return math.nan
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return float(ordered[rank])


class LatencyStats:
    """Samples of one measured phase (Go's ``Stats`` plus the raw samples).

    ``start()``/``end()`` bracket the phase (wall time and this process's CPU
    time); ``add(ns)`` records one operation's latency.
    """

    __slots__ = ("_cpu_end", "_cpu_start", "_end", "_m2", "_mean", "_start", "count", "samples")

    def __init__(self) -> None:
        self.samples: list[int] = []
        self.count = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._start = self._end = 0
        self._cpu_start = self._cpu_end = 0.0

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def start(self) -> None:
        self._cpu_start = time.process_time()
        self._start = time.perf_counter_ns()

    def end(self) -> None:
        self._end = time.perf_counter_ns()
        self._cpu_end = time.process_time()

    def add(self, ns: int) -> None:
        """Record one latency (Welford's algorithm, and the sample)."""
        self.samples.append(ns)
        self.count += 1
        delta = ns - self._mean
        self._mean += delta / self.count
        self._m2 += delta * (ns - self._mean)

    def count_only(self, n: int = 1) -> None:
        """Count operations without a latency (one-way sends)."""
        self.count += n

    @property
    def total_ns(self) -> int:
        return max(self._end - self._start, 1)

    @property
    def cpu_seconds(self) -> float:
        return self._cpu_end - self._cpu_start

    @property
    def mean(self) -> float:
        return self._mean

    @property
    def variance(self) -> float:
        n = len(self.samples)
        return self._m2 / (n - 1) if n > 2 else 0.0

    def to_proto(self, name: str = "") -> Result:
        """This phase as Go's ``Result`` (server side: nanoseconds, ops/s)."""
        ops = self.count
        return Result(
            name=name,
            total_ops=ops,
            total_time=self.total_ns,
            throughput=ops / (self.total_ns / 1e9),
            latency_avg=self._mean,
            latency_var=self.variance,
        )


def combine_server_results(results: Sequence[Result]) -> Result:
    """Combine per-server results as Go's ``StopServerBenchmarkQF``: pooled
    mean and variance, total ops, time and throughput averaged per server."""
    out = Result()
    if not results:
        return out
    total = sum(r.total_ops for r in results)
    for r in results:
        out.total_ops += r.total_ops
        out.total_time += r.total_time
        out.throughput += r.throughput
        out.server_stats.append(MemoryStat(allocs=r.allocs_per_op * r.total_ops,
                                           memory=r.mem_per_op * r.total_ops))
    if total:
        out.latency_avg = sum(r.latency_avg * r.total_ops for r in results) / total
        dof = total - len(results)
        if dof > 0:
            out.latency_var = sum(max(r.total_ops - 1, 0) * r.latency_var for r in results) / dof
    n = len(results)
    out.total_ops //= n
    out.total_time //= n
    out.throughput /= n
    return out


@dataclass
class BenchResult:
    """One benchmark's outcome, as printed in the table and the JSON output.

    Latencies in milliseconds (p50/p99 are None when only a mean is known,
    e.g. one-way latencies measured by servers); ``cpu_per_10k`` is client
    CPU seconds per 10 000 operations; ``peak_rss_mib`` the client's peak RSS;
    ``server_cpu_per_10k`` is summed over local server processes (None for
    remote servers).
    """

    name: str
    total_ops: int
    seconds: float
    throughput: float
    latency_avg_ms: float
    latency_std_ms: float
    p50_ms: float | None
    p99_ms: float | None
    cpu_per_10k: float
    peak_rss_mib: float
    server_cpu_per_10k: float | None = None
    measured_by: str = "client"
    server_stats: list[dict[str, int]] = field(default_factory=list)
    note: str = ""

    @classmethod
    def from_client(cls, name: str, stats: LatencyStats) -> BenchResult:
        ops = stats.count
        ordered = sorted(stats.samples)
        seconds = stats.total_ns / 1e9
        return cls(
            name=name,
            total_ops=ops,
            seconds=seconds,
            throughput=ops / seconds,
            latency_avg_ms=stats.mean / NS_PER_MS,
            latency_std_ms=math.sqrt(stats.variance) / NS_PER_MS,
            p50_ms=percentile(ordered, 0.5) / NS_PER_MS if ordered else None,
            p99_ms=percentile(ordered, 0.99) / NS_PER_MS if ordered else None,
            cpu_per_10k=stats.cpu_seconds / max(ops, 1) * 10_000,
            peak_rss_mib=peak_rss_mib(),
        )

    @classmethod
    def from_servers(cls, name: str, combined: Result, client: LatencyStats) -> BenchResult:
        """A one-way benchmark: throughput and latency as the servers measured
        them; CPU per operation from the client's sends."""
        seconds = combined.total_time / 1e9
        return cls(
            name=name,
            total_ops=combined.total_ops,
            seconds=seconds,
            throughput=combined.throughput,
            latency_avg_ms=combined.latency_avg / NS_PER_MS,
            latency_std_ms=math.sqrt(max(combined.latency_var, 0.0)) / NS_PER_MS,
            p50_ms=None,
            p99_ms=None,
            cpu_per_10k=client.cpu_seconds / max(client.count, 1) * 10_000,
            peak_rss_mib=peak_rss_mib(),
            measured_by="servers",
            server_stats=[{"allocs": s.allocs, "memory": s.memory}
                          for s in combined.server_stats],
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
