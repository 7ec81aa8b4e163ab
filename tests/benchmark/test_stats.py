"""Benchmark statistics: percentiles, Welford, Go's combination of server results."""

from __future__ import annotations

import math
import statistics

import pytest

from gorums_h2.benchmark.benchmark_pb2 import Result
from gorums_h2.benchmark.stats import LatencyStats, combine_server_results, percentile


def test_percentile_nearest_rank() -> None:
    data = list(range(1, 101))
    assert percentile(data, 0.5) == 50
    assert percentile(data, 0.99) == 99
    assert percentile(data, 1.0) == 100
    assert percentile([7], 0.99) == 7
    assert math.isnan(percentile([], 0.5))


def test_latency_stats_match_statistics_module() -> None:
    stats = LatencyStats()
    samples = [5, 9, 1, 14, 3, 3, 8]
    for s in samples:
        stats.add(s)
    assert stats.count == len(samples)
    assert stats.mean == pytest.approx(statistics.mean(samples))
    assert stats.variance == pytest.approx(statistics.variance(samples))
    proto = stats.to_proto("x")
    assert proto.name == "x" and proto.total_ops == len(samples)
    assert proto.latency_avg == pytest.approx(statistics.mean(samples))


def test_combine_server_results_pools_like_go() -> None:
    a = [10.0, 12.0, 14.0]
    b = [20.0, 22.0, 24.0, 26.0]
    ra = Result(total_ops=3, total_time=300, throughput=10.0,
                latency_avg=statistics.mean(a), latency_var=statistics.variance(a))
    rb = Result(total_ops=4, total_time=500, throughput=8.0,
                latency_avg=statistics.mean(b), latency_var=statistics.variance(b))
    out = combine_server_results([ra, rb])
    assert out.latency_avg == pytest.approx(statistics.mean(a + b))
    # pooled within-server variance: sum((n_i - 1) var_i) / (N - k)
    pooled = (2 * statistics.variance(a) + 3 * statistics.variance(b)) / (7 - 2)
    assert out.latency_var == pytest.approx(pooled)
    assert out.total_ops == 3  # 7 // 2: averaged per server, as Go does
    assert out.total_time == 400
    assert out.throughput == pytest.approx(9.0)
    assert len(out.server_stats) == 2


def test_combine_nothing() -> None:
    assert combine_server_results([]) == Result()
