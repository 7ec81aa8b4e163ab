"""The storage example and the demo as users run them: real processes, real TCP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BACKENDS = ["asyncio", "trio"]
CLI = [sys.executable, "-m", "gorums_h2.cli"]


@contextmanager
def storage_servers(n: int, backend: str) -> Iterator[list[str]]:
    """``gorums-h2 storage serve`` on free ports; yields the LISTENING addresses."""
    args = [*CLI, "storage", "serve", "--backend", backend]
    for _ in range(n):
        args += ["--addr", "127.0.0.1:0"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        addrs = []
        assert proc.stdout is not None
        for _ in range(n):
            line = proc.stdout.readline()
            assert line.startswith("LISTENING "), (line, proc.stderr.read() if proc.stderr else "")
            addrs.append(line.split()[1])
        yield addrs
    finally:
        proc.terminate()  # SIGTERM: the server says so and exits cleanly
        _out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "stopping on SIGTERM" in err


def run_client(addrs: list[str], backend: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "storage", "client", "--addrs", ",".join(addrs), "--backend", backend, *extra],
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("wire", ["ordering", "stream"])
@pytest.mark.parametrize("server_backend", BACKENDS)
@pytest.mark.parametrize("client_backend", BACKENDS)
def test_storage_client_runs_the_capture_steps(server_backend: str, client_backend: str,
                                               wire: str) -> None:
    with storage_servers(3, server_backend) as addrs:  # they serve both wires
        done = run_client(addrs, client_backend, "--errors", "--wire", wire)
    assert done.returncode == 0, done.stderr
    steps = [json.loads(line) for line in done.stdout.splitlines()]
    assert [s["step"] for s in steps] == list(range(1, 10))
    assert [s["call"] for s in steps[:7]] == [
        "WriteRPC", "ReadRPC", "WriteQC majority", "ReadQC majority", "ReadQC all",
        "WriteMulticast", "ReadQC all"]
    assert all(s["ok"] for s in steps)
    assert set(steps[0]) == {"step", "call", "request", "response", "error", "ok"}
    assert steps[1]["response"]["value"] == "rpc-value"
    assert steps[6]["response"]["value"] == "mc-value"
    assert steps[6]["request"] == {"key": "mc-key"}
    assert "FAILED_PRECONDITION" in steps[7]["error"]
    assert "plain error for key fail-plain" in steps[8]["error"]


@pytest.mark.parametrize(("server_backend", "client_backend"),
                         [("asyncio", "trio"), ("trio", "asyncio")])
def test_storage_client_reverse_step_10(server_backend: str, client_backend: str) -> None:
    """Go master's step 10: ReadNestedQC, answered by a ReadQC back on the client."""
    with storage_servers(3, server_backend) as addrs:
        done = run_client(addrs, client_backend, "--wire", "stream", "--reverse")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5, 6, 7, 10]
    last = lines[-1]
    assert last["ok"] and last["call"] == "ReadNestedQC reverse"
    assert last["response"]["value"] == "client-value"


def test_storage_client_reverse_needs_the_stream_wire() -> None:
    done = run_client(["127.0.0.1:1"], "asyncio", "--reverse")
    assert done.returncode == 2 and "--wire stream" in done.stderr


def test_storage_client_fails_when_a_step_fails() -> None:
    with storage_servers(2, "asyncio") as addrs:
        done = run_client([*addrs, "127.0.0.1:1"], "asyncio")  # a node that is down
    assert done.returncode == 1
    steps = [json.loads(line) for line in done.stdout.splitlines()]
    failed = [s["step"] for s in steps if not s["ok"]]
    # ReadQC all cannot complete and the multicast reports its send failure;
    # the majority steps still succeed
    assert failed == [5, 6, 7]
    assert "UNAVAILABLE" in steps[4]["error"]
    assert steps[5]["error"].startswith("SendFailureError")


def test_storage_serve_rejects_bad_arguments() -> None:
    done = subprocess.run([*CLI, "storage", "serve"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "--addr" in done.stderr
    done = subprocess.run([*CLI, "storage", "serve", "--addr", "nonsense"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "invalid listen address" in done.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_demo_runs_and_narrates(backend: str) -> None:
    done = subprocess.run([*CLI, "demo", "--backend", backend],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for text in ("Stopping node", "the majority still answers", "reconnected by itself",
                 "caught up", "done: servers stopped"):
        assert text in out, out
    assert f"({backend})" in out.splitlines()[0]


def test_version() -> None:
    from gorums_h2 import __version__

    done = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == f"gorums-h2 {__version__}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_storage_serve_answers_grpc_health_checks(backend: str) -> None:
    peer = Path(__file__).parent.parent / "server" / "grpcio_health_peer.py"
    with storage_servers(1, backend) as addrs:
        port = addrs[0].rpartition(":")[2]
        done = subprocess.run([sys.executable, str(peer), port],
                              input="check\ncheck proto.Storage\n",
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["READY", "SERVING", "SERVING"]
