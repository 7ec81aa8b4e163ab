"""The command line as users meet it: one-line errors with exit 2 (usage) or 1
(runtime), nothing half-started, clean Ctrl-C, Go-style durations."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gorums_h2.benchmark.stats import BenchResult
from gorums_h2.cli._args import parse_duration
from gorums_h2.cli.benchmark import format_table

BACKENDS = ["asyncio", "trio"]
CLI = [sys.executable, "-m", "gorums_h2.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextmanager
def busy_port() -> Iterator[int]:
    """A listening port whose two neighbours are free, below the ephemeral range
    (32768+) that the other tests' port-0 listeners and every client socket use,
    so that no parallel socket takes a neighbour between the check and the run."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 32_000)
        if not all(_free(p) for p in (port - 1, port + 1)):
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            sock.listen()
            yield port
            return
    raise RuntimeError("no port with two free neighbours in 20000-32000")


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("2s", 2.0), ("1m30s", 90.0), ("1.5h", 5400.0), ("250us", 250e-6),
    ("10ns", 10e-9), ("0", 0.0), ("1.5", 1.5), ("3", 3.0), ("1h2m3.5s", 3723.5),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ms", "5x", "1m30", "-2s", "-1", "nan", "1 s", "s5"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_bad_address_is_one_line_and_exit_2() -> None:
    done = run("storage", "client", "--addrs", "foo")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gorums-h2 storage client: --addrs: invalid node address 'foo': expected host:port"]


def test_durations_are_accepted_and_bad_ones_are_usage_errors() -> None:
    done = run("benchmark", "--time", "1m3", "--list")
    assert done.returncode == 2 and "invalid duration '1m3'" in done.stderr
    assert "Traceback" not in done.stderr
    done = run("storage", "client", "--addrs", "127.0.0.1:1", "--timeout", "soon")
    assert done.returncode == 2 and "invalid duration 'soon'" in done.stderr
    done = run("benchmark", "--time", "1m30s", "--warmup", "500ms", "--list")
    assert done.returncode == 0 and "QuorumCall" in done.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_on_a_busy_port_starts_nothing(backend: str) -> None:
    with busy_port() as taken:
        # servers on taken-1, taken, taken+1: the middle one cannot listen
        done = run("storage", "serve", "--n", "3", "--base-port", str(taken - 1),
                   "--backend", backend)
    assert done.returncode == 1
    assert "LISTENING" not in done.stdout  # no server was started (and announced)
    assert done.stderr.strip().splitlines() == [
        f"gorums-h2 storage serve: [Errno 98] cannot listen on 127.0.0.1:{taken}: "
        "Address already in use"]


def test_serve_ports_past_65535_are_a_usage_error() -> None:
    done = run("storage", "serve", "--n", "3", "--base-port", "65534")
    assert done.returncode == 2 and "past port 65535" in done.stderr
    done = run("storage", "serve", "--n", "1", "--base-port", "70000")
    assert done.returncode == 2 and "invalid port '70000'" in done.stderr


def _spawn(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _interrupt(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_stops_a_server_cleanly(backend: str) -> None:
    proc = _spawn(["storage", "serve", "--addr", "127.0.0.1:0", "--backend", backend])
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("LISTENING ")
    _out, err = _interrupt(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopping on SIGINT" in err


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_during_a_benchmark_is_one_line(backend: str) -> None:
    proc = _spawn(["benchmark", "--benchmarks", "^OrderedRPC$", "--config-size", "1",
                   "--time", "10m", "--warmup", "1ms", "--backend", backend])
    assert proc.stderr is not None
    for _ in range(20):  # progress: a line per phase (not a terminal)
        line = proc.stderr.readline()
        if "measure" in line or not line:
            break
    assert "measure" in line, line
    _out, err = _interrupt(proc)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "gorums-h2: interrupted"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def _result(name: str, note: str = "", measured_by: str = "client") -> BenchResult:
    return BenchResult(name=name, total_ops=10, seconds=1.0, throughput=10.0,
                       latency_avg_ms=500.0, latency_std_ms=1.0, p50_ms=None, p99_ms=None,
                       cpu_per_10k=1.0, peak_rss_mib=30.0, measured_by=measured_by, note=note)


def test_the_table_says_when_latency_is_queueing() -> None:
    table = format_table([
        _result("QuorumCall"),
        _result("AsyncQuorumCall", "latency includes queueing: up to 1000 calls in flight"),
    ])
    assert table.splitlines()[-1] == (
        "AsyncQuorumCall: latency includes queueing: up to 1000 calls in flight")
    assert not any(line.startswith("QuorumCall:") for line in table.splitlines())


@pytest.mark.parametrize(("args", "message"), [
    (["--remotes", "foo"], "gorums-h2 benchmark: --remotes: invalid node address 'foo'"),
    (["--config-size", "0"], "gorums-h2 benchmark: --config-size must be at least 1"),
])
def test_benchmark_usage_errors_are_one_line(args: list[str], message: str) -> None:
    done = run("benchmark", *args)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(message)
