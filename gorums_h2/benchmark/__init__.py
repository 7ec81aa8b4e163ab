"""Benchmarks of gorums_h2 (Go Gorums' ``benchmark`` package and
``cmd/benchmark``): the ``benchmark.Benchmark`` service (proto/benchmark.proto,
wire compatible with Go's), its server, the client benchmarks and local server
processes. The command line is ``gorums-h2 benchmark``.
"""

from gorums_h2.benchmark.procs import LocalServers, ServerStartError
from gorums_h2.benchmark.runner import BENCHMARKS, Bench, Options, run_benchmarks, select
from gorums_h2.benchmark.server import BenchmarkService, new_bench_server, run_backend
from gorums_h2.benchmark.stats import BenchResult, LatencyStats, combine_server_results

__all__ = [
    "BENCHMARKS",
    "Bench",
    "BenchResult",
    "BenchmarkService",
    "LatencyStats",
    "LocalServers",
    "Options",
    "ServerStartError",
    "combine_server_results",
    "new_bench_server",
    "run_backend",
    "run_benchmarks",
    "select",
]
