"""Smoke tests of ``gorums-h2 benchmark``: real server processes, real TCP,
short runs on asyncio and trio; the JSON output is checked for consistency
(never for speed)."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from typing import Any

import pytest

from gorums_h2.benchmark.procs import spawn_listening
from gorums_h2.benchmark.runner import BENCHMARKS

BACKENDS = ["asyncio", "trio"]
CLI = [sys.executable, "-m", "gorums_h2.cli", "benchmark"]
SHORT = ["--time", "0.2", "--warmup", "0.05", "--no-progress"]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def run_json(*args: str) -> dict[str, Any]:
    proc = run_cli(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def check_sane(result: dict[str, Any]) -> None:
    """Fields agree with each other (no speed expectations)."""
    assert result["total_ops"] > 0
    assert result["seconds"] > 0
    assert result["throughput"] > 0
    assert result["latency_avg_ms"] > 0
    assert result["latency_std_ms"] >= 0
    assert result["cpu_per_10k"] > 0
    assert result["peak_rss_mib"] > 1
    if result["measured_by"] == "client":
        assert math.isclose(result["throughput"], result["total_ops"] / result["seconds"],
                            rel_tol=1e-6)
        assert 0 < result["p50_ms"] <= result["p99_ms"]
    else:
        assert result["measured_by"] == "servers"
        assert result["p50_ms"] is None and result["p99_ms"] is None


def test_list_names_every_benchmark() -> None:
    proc = run_cli("--list")
    assert proc.returncode == 0, proc.stderr
    names = [line.split(":", 1)[0] for line in proc.stdout.splitlines()]
    assert names == ["QuorumCall", "AsyncQuorumCall", "SlowServer", "Multicast", "Unicast",
                     "OrderedRPC"]
    assert [b.name for b in BENCHMARKS] == names


@pytest.mark.parametrize("backend", BACKENDS)
def test_quorum_call_json(backend: str) -> None:
    # 1 s, not SHORT's 0.2 s: /proc counts CPU in 10 ms ticks, and a starved
    # 0.2 s run's servers could use less than one (server_cpu_per_10k == 0.0)
    doc = run_json("--benchmarks", "^QuorumCall$", "--config-size", "3", "--payload", "16",
                   "--backend", backend, "--time", "1", "--warmup", "0.05", "--no-progress")
    assert doc["options"]["config_size"] == 3
    assert doc["options"]["quorum_size"] == 1  # Go's default: n // 2
    assert doc["options"]["payload"] == 16
    assert doc["options"]["backend"] == backend
    [result] = doc["results"]
    assert result["name"] == "QuorumCall"
    assert result["measured_by"] == "client"
    check_sane(result)
    # local servers: their CPU is measured from /proc
    assert result["server_cpu_per_10k"] is not None and result["server_cpu_per_10k"] > 0


@pytest.mark.parametrize(("backend", "wire"), [("asyncio", "ordering"), ("trio", "stream")])
def test_every_benchmark_runs(backend: str, wire: str) -> None:
    doc = run_json("--config-size", "2", "--quorum-size", "2", "--concurrent", "2",
                   "--max-async", "20", "--backend", backend, "--time", "0.15",
                   "--warmup", "0.02", "--no-progress", "--wire", wire)
    assert doc["options"]["quorum_size"] == 2
    assert doc["options"]["wire"] == wire
    results = {r["name"]: r for r in doc["results"]}
    assert list(results) == [b.name for b in BENCHMARKS]
    for result in results.values():
        check_sane(result)
    assert results["Multicast"]["measured_by"] == "servers"
    assert results["Unicast"]["measured_by"] == "servers"
    # the 10 ms handler bounds SlowServer's latency from below
    assert results["SlowServer"]["p50_ms"] >= 10


def test_table_output_and_progress() -> None:
    proc = run_cli("--benchmarks", "OrderedRPC", "--config-size", "1", "--time", "0.1",
                   "--warmup", "0.02")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("# 1 nodes, quorum 1")
    header = lines[1].split()
    assert header[:3] == ["Benchmark", "Throughput", "Latency"]
    assert lines[2].startswith("OrderedRPC ")
    assert "[1/1] OrderedRPC: measure" in proc.stderr  # not a terminal: a line per phase


def test_remotes_against_serve_only_process() -> None:
    """``--server`` serves until SIGTERM; ``--remotes`` drives it (and runs the
    StartBenchmark/StopBenchmark calls of remote runs)."""
    server, [address] = spawn_listening([*CLI, "--server", "127.0.0.1:0"], 1)
    try:
        doc = run_json("--remotes", address, "--benchmarks", "^QuorumCall$|Unicast", *SHORT)
        assert doc["options"]["remote"] is True
        assert doc["options"]["config_size"] == 1
        results = {r["name"]: r for r in doc["results"]}
        assert list(results) == ["QuorumCall", "Unicast"]
        for result in results.values():
            check_sane(result)
            assert result["server_cpu_per_10k"] is None  # not a local process
        # StopBenchmark's memory statistics (zeros from Python servers)
        assert results["QuorumCall"]["server_stats"] == [{"allocs": 0, "memory": 0}]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(10) == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--benchmarks", "("], "invalid --benchmarks pattern"),
    (["--benchmarks", "NoSuchBenchmark"], "no benchmark matches"),
    (["--concurrent", "0"], "concurrent must be at least 1"),
    (["--server", "nonsense"], "invalid listen address"),
])
def test_bad_arguments(args: list[str], message: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_unreachable_remote_fails_cleanly() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_cli("--remotes", f"127.0.0.1:{port}", "--benchmarks", "^QuorumCall$", *SHORT)
    assert proc.returncode == 1
    assert "gorums-h2 benchmark:" in proc.stderr
