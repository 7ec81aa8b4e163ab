"""Local benchmark servers in separate processes.

:class:`LocalServers` starts ``python -m gorums_h2.benchmark.server``
processes, reads their ``LISTENING host:port`` lines and stops them when the
``with`` block ends (terminate, then kill after a grace period), whatever
happened inside. :func:`process_cpu_seconds` reads a process's CPU time from
``/proc`` (Linux) so benchmarks can report server CPU per operation.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import TracebackType

__all__ = [
    "LocalServers",
    "ServerStartError",
    "process_cpu_seconds",
    "spawn_listening",
    "spawn_process",
    "stop_process",
    "wait_listening",
]

START_TIMEOUT = 30.0

# pid -> descriptor of the file holding a starting server's stderr
_STDERR: dict[int, int] = {}


class ServerStartError(RuntimeError):
    """A server process exited or stayed silent before listening."""

    def __init__(self, message: str, proc: subprocess.Popen[bytes] | None = None) -> None:
        super().__init__(message)
        self.proc = proc


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (None where /proc is unavailable)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    # after the command name: state(0) ... utime(11) stime(12)
    return (int(fields[11]) + int(fields[12])) / ticks


def spawn_listening(cmd: Sequence[str], count: int, *, timeout: float = START_TIMEOUT,
                    env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], list[str]]:
    """Start ``cmd`` and wait for ``count`` ``LISTENING addr`` lines on its stdout.

    Returns the process and the addresses. Raises :class:`ServerStartError`
    (with the process's stderr) if it exits or times out first; the process
    is killed then.
    """
    proc = spawn_process(cmd, env)
    return proc, wait_listening([proc], [count], timeout=timeout)[0]


def spawn_process(cmd: Sequence[str], env: dict[str, str] | None = None
                  ) -> subprocess.Popen[bytes]:
    """Start a server process (stdout piped for :func:`wait_listening`; stderr
    kept in a temporary file and shown if it fails to start)."""
    with tempfile.TemporaryFile() as err:
        # the child keeps its own descriptor of the (unlinked) file
        proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err.fileno(), env=env)
        _STDERR[proc.pid] = os.dup(err.fileno())
    return proc


def _stderr_of(proc: subprocess.Popen[bytes]) -> str:
    """What the process wrote to stderr so far (and forget its file)."""
    fd = _STDERR.pop(proc.pid, None)
    if fd is None:
        return ""
    os.lseek(fd, 0, os.SEEK_SET)
    with os.fdopen(fd, "rb") as f:
        return f.read().decode(errors="replace").strip()


def _close_stderr(proc: subprocess.Popen[bytes]) -> None:
    fd = _STDERR.pop(proc.pid, None)
    if fd is not None:
        os.close(fd)


def wait_listening(procs: Sequence[subprocess.Popen[bytes]], counts: Sequence[int], *,
                   timeout: float = START_TIMEOUT) -> list[list[str]]:
    """Read ``counts[i]`` LISTENING lines of every process in ``procs``, in
    parallel; the addresses per process. On failure every process is stopped
    and :class:`ServerStartError` names the first one that failed."""
    fds = {p.stdout.fileno(): i for i, p in enumerate(procs) if p.stdout is not None}
    bufs = [b""] * len(procs)
    addresses: list[list[str]] = [[] for _ in procs]
    deadline = time.monotonic() + timeout
    pending = {fd for fd, i in fds.items() if counts[i] > 0}
    try:
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerStartError(
                    f"benchmark server: no LISTENING line within {timeout:g}s",
                    procs[fds[next(iter(pending))]])
            ready, _, _ = select.select(list(pending), [], [], remaining)
            for fd in ready:
                i = fds[fd]
                chunk = os.read(fd, 65536)
                if not chunk:
                    procs[i].wait(5)
                    raise ServerStartError(
                        f"benchmark server exited with status {procs[i].returncode}", procs[i])
                bufs[i] += chunk
                while b"\n" in bufs[i]:
                    line, bufs[i] = bufs[i].split(b"\n", 1)
                    text = line.decode(errors="replace").strip()
                    if text.startswith("LISTENING "):
                        addresses[i].append(text.split(None, 1)[1])
                if len(addresses[i]) >= counts[i]:
                    pending.discard(fd)
    except BaseException as exc:
        detail = ""
        if isinstance(exc, ServerStartError) and exc.proc is not None:
            exc.proc.poll()
            detail = _stderr_of(exc.proc)
        for proc in procs:
            stop_process(proc)
        if detail:
            raise ServerStartError(f"{exc}\n{detail}") from None
        raise
    for proc in procs:
        _close_stderr(proc)
    return addresses


def stop_process(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate ``proc`` (kill after ``grace`` seconds) and release its pipes."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    _close_stderr(proc)


class LocalServers:
    """``n`` benchmark servers in ``procs`` processes (default: one each).

    ``with LocalServers(3) as servers: servers.addresses`` — servers are
    spread over the processes round-robin by index; every process is
    stopped on exit.
    """

    def __init__(self, n: int, *, procs: int | None = None, backend: str = "asyncio",
                 server_buffer: int = 0, python: str = sys.executable) -> None:
        if n < 1:
            raise ValueError("need at least one server")
        self.n = n
        self.procs = max(1, min(procs or n, n))
        self.backend = backend
        self.server_buffer = server_buffer
        self.python = python
        self.processes: list[subprocess.Popen[bytes]] = []
        self.addresses: list[str] = []

    def __enter__(self) -> LocalServers:
        try:
            per_proc = [len(range(i, self.n, self.procs)) for i in range(self.procs)]
            for count in per_proc:
                self.processes.append(spawn_process(
                    [self.python, "-m", "gorums_h2.benchmark.server", "--count", str(count),
                     "--backend", self.backend, "--server-buffer", str(self.server_buffer)]))
            by_proc = wait_listening(self.processes, per_proc)
            # server i lives in process i % procs
            self.addresses = [by_proc[i % self.procs][i // self.procs] for i in range(self.n)]
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every process (idempotent)."""
        procs, self.processes = self.processes, []
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            stop_process(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def cpu_seconds(self) -> float | None:
        """CPU seconds used so far by all server processes (None without /proc)."""
        total = 0.0
        for pid in self.pids:
            cpu = process_cpu_seconds(pid)
            if cpu is None:
                return None
            total += cpu
        return total
