"""Servers and runners: everything the pytest benchmarks and compare.py share.

* :class:`ServerPool` — servers of one implementation in separate processes
  (servers 0-2 in a process each, the rest of a big pool grouped in two);
* :class:`InProcessRunner` — a client (gorums_h2, grpclib, grpcio, wire) on an
  event loop in a persistent thread (``anyio.from_thread.start_blocking_portal``):
  one loop per runner, never one per round;
* :class:`PurerpcRunner` — the purerpc driver process in its own venv;
* :func:`make_runner` — a runner for ``(impl, backend)`` against a pool.

``runner.run(workload, n)`` runs ``n`` operations and returns a
:class:`Sample` (wall seconds measured around the operations, client
process CPU seconds).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyio.from_thread import start_blocking_portal

from benchlib.clients import CLIENTS
from benchlib.workloads import timed_run
from gorums_h2.benchmark.procs import spawn_process, stop_process, wait_listening

__all__ = [
    "IMPLS",
    "InProcessRunner",
    "PurerpcRunner",
    "PurerpcUnavailable",
    "Sample",
    "ServerPool",
    "make_runner",
    "purerpc_python",
]

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
PURERPC_VENV = BENCH / ".venv-purerpc"

# (implementation, backend) pairs of the side-by-side workloads: the peers in
# their unary and streaming forms (benchlib.clients), uvloop on both sides
# where it is installed (grpcio does its own I/O: asyncio only)
IMPLS = [("gorums_h2", "asyncio"), ("grpclib", "asyncio"), ("grpclib-stream", "asyncio"),
         ("grpcio", "asyncio"), ("grpcio-stream", "asyncio"),
         ("gorums_h2", "trio"), ("purerpc", "trio"), ("purerpc-stream", "trio")]
if importlib.util.find_spec("uvloop") is not None:
    IMPLS += [("gorums_h2", "uvloop"), ("grpclib", "uvloop"), ("grpclib-stream", "uvloop")]


@dataclass(frozen=True)
class Sample:
    ops: int
    seconds: float
    cpu: float

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds

    @property
    def cpu_per_10k(self) -> float:
        return self.cpu / self.ops * 10_000


class PurerpcUnavailable(RuntimeError):
    """purerpc's virtual environment could not be made."""


def purerpc_python() -> str:
    """The Python of ``bench/.venv-purerpc``, created on first use
    (``python -m venv`` + ``pip install purerpc protobuf trio``)."""
    python = PURERPC_VENV / "bin" / "python"
    marker = PURERPC_VENV / ".ready"
    if marker.exists() and python.exists():
        return str(python)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PURERPC_VENV)], check=True,
                       capture_output=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "purerpc", "protobuf",
                        "trio"], check=True, capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise PurerpcUnavailable(
            f"cannot set up {PURERPC_VENV}: {exc}\n{detail.decode(errors='replace')[-2000:]}"
        ) from None
    marker.write_text("purerpc protobuf trio\n")
    return str(python)


def _server_command(impl: str, backend: str, count: int) -> list[str]:
    if impl == "gorums_h2":
        return [sys.executable, "-m", "gorums_h2.benchmark.server", "--count", str(count),
                "--backend", backend]
    impl = impl.removesuffix("-stream")  # the same servers serve both forms
    if impl in ("grpclib", "grpcio", "wire"):
        return [sys.executable, str(BENCH / "benchlib" / "peer_server.py"), impl,
                "--count", str(count), "--backend", backend]
    if impl == "purerpc":
        return [purerpc_python(), str(BENCH / "benchlib" / "purerpc_peer.py"), "server",
                "--count", str(count)]
    raise ValueError(f"unknown implementation {impl!r}")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(BENCH), str(ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class ServerPool:
    """``size`` servers of ``impl`` on ``backend``; grows on demand."""

    def __init__(self, impl: str, backend: str) -> None:
        self.impl = impl
        self.backend = backend
        self.addresses: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def ensure(self, size: int) -> list[str]:
        """At least ``size`` servers: the first three one per process, more
        in two shared processes. Returns all addresses."""
        counts: list[int] = []
        have = len(self.addresses)
        while have + sum(counts) < min(size, 3):
            counts.append(1)
        rest = size - have - sum(counts)
        if rest > 0:
            counts += [c for c in (rest - rest // 2, rest // 2) if c]
        if counts:
            procs = [spawn_process(_server_command(self.impl, self.backend, c), env=_env())
                     for c in counts]
            self.processes += procs
            for addrs in wait_listening(procs, counts):
                self.addresses += addrs
        return self.addresses

    def close(self) -> None:
        for proc in self.processes:
            stop_process(proc)
        self.processes.clear()
        self.addresses.clear()


class InProcessRunner:
    """A client of ``impl`` on an event loop of its own, in a thread."""

    def __init__(self, impl: str, backend: str, addresses: list[str]) -> None:
        self.impl, self.backend = impl, backend
        options: dict[str, Any] = {}
        if backend == "uvloop":
            backend, options = "asyncio", {"use_uvloop": True}
        self._portal_cm = start_blocking_portal(backend, options)
        self.portal = self._portal_cm.__enter__()
        try:
            self._client_cm = self.portal.wrap_async_context_manager(
                CLIENTS[impl](addresses))
            self.client = self._client_cm.__enter__()
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    def run(self, workload: str, n: int) -> Sample:
        cpu0 = time.process_time()
        seconds = self.portal.call(timed_run, self.client, workload, n)
        return Sample(n, seconds, time.process_time() - cpu0)

    def call(self, fn: Any, *args: Any) -> Sample:
        """Run ``await fn(client, *args)`` and time it (``args[0]`` is the op count)."""
        async def timed() -> float:
            t0 = time.perf_counter()
            await fn(self.client, *args)
            return time.perf_counter() - t0

        cpu0 = time.process_time()
        seconds = self.portal.call(timed)
        return Sample(args[0], seconds, time.process_time() - cpu0)

    def close(self) -> None:
        try:
            self._client_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)


class PurerpcRunner:
    """purerpc's benchmark driver (trio), in a process of its own venv."""

    backend = "trio"

    def __init__(self, addresses: list[str], *, streaming: bool = False) -> None:
        self.impl = "purerpc-stream" if streaming else "purerpc"
        self.proc = subprocess.Popen(
            [purerpc_python(), str(BENCH / "benchlib" / "purerpc_peer.py"), "driver"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env())
        try:
            self._ask({"cmd": "connect", "addresses": addresses, "streaming": streaming})
        except BaseException:
            self.close()
            raise

    def _ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"purerpc driver exited ({self.proc.wait()})")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"purerpc driver: {reply.get('error')}")
        return reply

    def run(self, workload: str, n: int) -> Sample:
        reply = self._ask({"cmd": "run", "workload": workload, "n": n})
        return Sample(n, reply["seconds"], reply["cpu"])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def make_runner(impl: str, backend: str, addresses: list[str]) -> InProcessRunner | PurerpcRunner:
    if impl in ("purerpc", "purerpc-stream"):
        return PurerpcRunner(addresses, streaming=impl == "purerpc-stream")
    return InProcessRunner(impl, backend, addresses)
