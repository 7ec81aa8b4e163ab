"""Helpers of the fault scenarios: load, figures, and three ways to run three servers.

Every scenario runs majority quorum calls with a 1 s timeout from a few
concurrent tasks (:class:`Load`), switches phases ("normal", the fault,
"healed") while they run, and checks the issue's bounds per phase with
:func:`check_fault_phase`. Figures go to the file named by
``GORUMS_FAULTS_REPORT`` (JSON lines) when it is set; ``bench/faults.py``
runs the scenarios that way and prints the table.

The rate bound: the issue asks for >= 90 % of the normal rate while one of
three nodes is faulty. On a shared CI machine a 2 s sample is noisy, so the
tests assert ``GORUMS_FAULTS_MIN_RATE`` (default 0.5: a call path that
blocks on the faulty node gives ~0) against the first ("normal") phase, and
``bench/faults.py`` runs them with 0.9 and reports the measured ratios.

When figures are recorded (``GORUMS_FAULTS_REPORT``), the fault phase is
longer (:func:`fault_seconds`) and bracketed by fault-free phases of
:data:`BASELINE` seconds right before (:func:`reference_phase`) and right
after it (:func:`baseline_after`): the rate of a machine shared with other
work drifts by +-15 % between 2 s windows, and the first phase, seconds
earlier, was in some runs 20 % faster than the calls just before the fault.
The 0.9 bound then applies to the rate against the mean of the two brackets
(``bracket_ratio``); the ratio against the first phase (``rate_ratio``) is
recorded next to it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

import gorums_h2 as g
from gorums_h2.benchmark.procs import stop_process
from gorums_h2.server import Server
from gorums_h2.testing import (
    ECHO_MULTICAST,
    ECHO_QC,
    ECHO_RPC,
    Echo,
    FaultProxy,
    TestServers,
    assert_no_fd_leak,
    assert_no_leaks,
    echo_server_fn,
    open_fds,
    task_baseline,
    test_servers,
)
from gorums_h2.testing.netns import Host, Link, NetLab
from gorums_h2.testing.serve import spawn_echo_servers

TIMEOUT = 1.0
"""The timeout of every call in the scenarios (the issue's)."""
SLACK = 0.5
"""How long a call may outlive its timeout."""
MIN_SUCCESS = 0.9
MIN_RATE = float(os.environ.get("GORUMS_FAULTS_MIN_RATE", "0.5"))
DETECT_WITHIN = 10.0
"""A black-holed node is reported broken within this many seconds (defaults)."""
HANG = TIMEOUT + 10.0
"""A call still running this long is counted as hung (and the test fails)."""


async def eventually(condition: Callable[[], object], within: float = 10.0) -> None:
    """Poll ``condition`` until it is true (TimeoutError after ``within`` s)."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.01)


class MajorityCall:
    """A majority quorum call with the scenario timeout (``payload`` bytes of request)."""

    def __init__(self, cfg: g.Configuration, payload: int = 0) -> None:
        self.cfg = cfg
        self.payload = payload
        self.request = Echo(value="x", payload=b"p" * payload)

    def __call__(self) -> Awaitable[object]:
        return g.quorum_call(self.cfg.context(timeout=TIMEOUT), self.request, ECHO_QC,
                             Echo).majority()


majority_call = MajorityCall


async def all_reply(cfg: g.Configuration, call_timeout: float = 5.0) -> None:
    """One ``all()`` call: every node connected and answering."""
    await g.quorum_call(cfg.context(timeout=call_timeout), Echo(value="all"), ECHO_QC, Echo).all()


async def all_reply_again(cfg: g.Configuration, within: float = 20.0) -> None:
    """``all()`` succeeds again (retried: a node may still be reconnecting)."""
    with anyio.fail_after(within):
        while True:
            try:
                await all_reply(cfg, call_timeout=2.0)
                return
            except g.QuorumCallError:
                await anyio.sleep(0.2)


async def calls_to_a_stalled_node_end_in_time(cfg: g.Configuration, node_index: int) -> None:
    """While node ``node_index`` is stalled: a multicast does not wait for it,
    an ordered RPC to it ends by its timeout."""
    node = cfg.nodes()[node_index]
    start = anyio.current_time()
    try:
        await g.multicast(cfg.context(timeout=TIMEOUT), Echo(value="mc"), ECHO_MULTICAST)
    except g.SendFailureError as exc:  # the stalled node's queue is full
        assert set(exc.node_errors) == {node.id}, exc
    elapsed = anyio.current_time() - start
    assert elapsed <= TIMEOUT + SLACK, f"the multicast took {elapsed:.2f} s"
    start = anyio.current_time()
    try:
        await g.rpc_call(node.context(timeout=TIMEOUT), Echo(value="r"), ECHO_RPC, Echo)
        raise AssertionError("a stalled node answered")
    except g.StatusError:
        pass
    elapsed = anyio.current_time() - start
    assert elapsed <= TIMEOUT + SLACK, f"the RPC took {elapsed:.2f} s"


@dataclass
class Phase:
    """What the calls started during one phase did."""

    name: str
    start: float
    end: float = 0.0
    ok: int = 0
    failed: int = 0
    hung: int = 0
    max_elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def calls(self) -> int:
        return self.ok + self.failed + self.hung

    @property
    def rate(self) -> float:
        return self.ok / max(self.end - self.start, 1e-9)

    @property
    def success(self) -> float:
        return self.ok / self.calls if self.calls else 0.0

    @property
    def overshoot(self) -> float:
        return max(0.0, self.max_elapsed - TIMEOUT)

    def median_latency(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[len(ordered) // 2] if ordered else float("nan")

    def summary(self) -> str:
        return (f"{self.name}: {self.ok} ok, {self.failed} failed, {self.hung} hung in "
                f"{self.end - self.start:.1f} s ({self.rate:.0f}/s), longest call "
                f"{self.max_elapsed:.3f} s, errors {dict(self.errors.most_common(3))}")


class Load:
    """Closed-loop calls from ``workers`` tasks, recorded per phase.

    ``async with load.running():`` starts them; ``load.phase(name)`` starts a
    new phase (a call belongs to the phase it started in); leaving the block
    stops starting calls and waits for those running.
    """

    def __init__(self, call: MajorityCall, workers: int = 8) -> None:
        self.call = call
        self.payload = call.payload
        self.workers = workers
        self.phases: list[Phase] = []
        self._stop = False

    def phase(self, name: str) -> Phase:
        now = anyio.current_time()
        if self.phases:
            self.phases[-1].end = now
        self.phases.append(Phase(name, now))
        return self.phases[-1]

    def __getitem__(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)

    async def _worker(self) -> None:
        while not self._stop:
            phase = self.phases[-1]
            start = anyio.current_time()
            with anyio.move_on_after(HANG) as scope:
                try:
                    await self.call()
                    phase.ok += 1
                    phase.latencies.append(anyio.current_time() - start)
                except Exception as exc:
                    phase.failed += 1
                    phase.errors[_describe(exc)] += 1
            if scope.cancelled_caught:
                phase.hung += 1
            phase.max_elapsed = max(phase.max_elapsed, anyio.current_time() - start)
            await anyio.lowlevel.checkpoint()

    @asynccontextmanager
    async def running(self, first_phase: str = "normal") -> AsyncIterator[Load]:
        self.phase(first_phase)
        async with anyio.create_task_group() as tg:
            for _ in range(self.workers):
                tg.start_soon(self._worker)
            try:
                yield self
            finally:
                self._stop = True
                self.phases[-1].end = anyio.current_time()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, g.QuorumCallError):
        kinds = sorted({f"{type(e).__name__}" for e in exc.node_errors.values()})
        return f"{type(exc).__name__}({','.join(kinds)})"
    return type(exc).__name__


REPORTING = bool(os.environ.get("GORUMS_FAULTS_REPORT"))
REFERENCE = "healthy nodes only"
BEFORE = "normal before"
AFTER = "normal after"
BASELINE = 3.0
"""Seconds of each fault-free phase bracketing the fault, when figures are recorded."""
FAULT_PHASE = 4.0
"""The least length of a fault phase when figures are recorded (see :func:`fault_seconds`)."""


def fault_seconds(suite: float) -> float:
    """How long a fault phase lasts: ``suite`` seconds in the test suite, at
    least :data:`FAULT_PHASE` when figures are recorded (a longer sample)."""
    return max(suite, FAULT_PHASE) if REPORTING else suite


async def reference_phase(load: Load, cfg: g.Configuration, faulty: int,
                          seconds: float = 1.5) -> None:
    """When figures are recorded: a phase of calls to a configuration without
    node ``faulty``, the best a majority can do while that node is gone (it
    must wait for both healthy nodes instead of the faster two of three);
    then :data:`BASELINE` seconds of normal calls, the bracket right before
    the fault (the caller starts the fault phase next)."""
    if not REPORTING:
        return
    call = load.call
    healthy = cfg.manager.new_configuration(
        g.with_node_ids([n.id for n in cfg.nodes() if n.id != cfg.nodes()[faulty].id]))
    load.call = majority_call(healthy, load.payload)
    load.phase(REFERENCE)
    await anyio.sleep(seconds)
    load.call = call
    load.phase("normal again")
    await anyio.sleep(0.5)  # the calls to the healthy nodes end
    load.phase(BEFORE)
    await anyio.sleep(BASELINE)


async def baseline_after(load: Load, cfg: g.Configuration,
                         call: MajorityCall | None = None, settle: float = 1.0) -> None:
    """When figures are recorded, after the fault is healed: once every node
    of ``cfg`` is connected again and ``settle`` seconds passed (a stalled
    node's backlog drains), :data:`BASELINE` seconds of normal calls (with
    ``call`` if given), the bracket right after the fault."""
    if not REPORTING:
        return
    await eventually(lambda: all(n.connected for n in cfg.nodes()), within=30)
    await anyio.sleep(settle)
    if call is not None:
        load.call = call
    load.phase(AFTER)
    await anyio.sleep(BASELINE)


def check_fault_phase(load: Load, fault: str, normal: str = "normal", *,
                      scenario: str, loop: str) -> dict[str, float]:
    """The issue's bounds for a phase with one of three nodes faulty; the figures
    (``rate_ratio``: the fault's rate against phase ``normal``'s; ``ref_ratio``:
    against :func:`reference_phase`'s healthy nodes only; ``bracket_ratio``:
    against the mean of the :data:`BEFORE` and :data:`AFTER` phases that ran).

    The rate bound (``GORUMS_FAULTS_MIN_RATE``) applies to ``bracket_ratio``
    when brackets ran (figures recorded), else to ``rate_ratio``.

    A run that breaks a bound still records its figures (with ``failed``, the
    reason), so that ``bench/faults.py``'s medians count the bad runs too."""
    base, bad = load[normal], load[fault]
    figures = {"overshoot": max(p.overshoot for p in load.phases),
               "success": bad.success, "rate_ratio": bad.rate / max(base.rate, 1e-9),
               "normal_rate": base.rate, "fault_rate": bad.rate}
    names = {p.name for p in load.phases}
    if REFERENCE in names:
        figures["ref_ratio"] = bad.rate / max(load[REFERENCE].rate, 1e-9)
    brackets = [load[name].rate for name in (BEFORE, AFTER) if name in names]
    for name, key in ((BEFORE, "before_rate"), (AFTER, "after_rate")):
        if name in names:
            figures[key] = load[name].rate
    if brackets:  # the bound's baseline when figures are recorded (see module doc)
        figures["bracket_ratio"] = bad.rate / max(sum(brackets) / len(brackets), 1e-9)
        ratio, against = figures["bracket_ratio"], "the fault-free phases around the fault"
    else:
        ratio, against = figures["rate_ratio"], "the first phase"
    text = "; ".join(p.summary() for p in load.phases)
    broken = [reason for ok, reason in (
        (all(p.hung == 0 for p in load.phases), "calls hung"),
        (figures["overshoot"] <= SLACK, f"a call outlived its timeout by > {SLACK} s"),
        (bad.success >= MIN_SUCCESS, "too many calls failed"),
        (ratio >= MIN_RATE, f"rate fell below {MIN_RATE:.0%} of {against} ({ratio:.0%})"),
    ) if not ok]
    if broken:
        record(scenario, loop, failed="; ".join(broken), **figures)
        raise AssertionError(f"{'; '.join(broken)}: {text}")
    return figures


def record(scenario: str, backend: str, **figures: float | str | None) -> None:
    """Append a scenario's figures to ``$GORUMS_FAULTS_REPORT`` (if set)."""
    path = os.environ.get("GORUMS_FAULTS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"scenario": scenario, "backend": backend, **figures}) + "\n")


# ---- three servers, three ways ----

SCALED_LIMITS = {"keepalive_time": 1.0, "keepalive_timeout": 1.0}
"""Server keepalive scaled down from 30 s + 20 s, so a test sees a dead
client's connection closed within seconds."""


def scaled_server_fn(index: int) -> Server:
    """An echo server that PINGs a client silent for 1 s and closes its
    connection 1 s later without an answer (see :data:`SCALED_LIMITS`)."""
    from gorums_h2.testing import EchoService, register_echo_service
    from gorums_h2.wire import ServerLimits  # type: ignore[attr-defined]

    server = Server(limits=ServerLimits(**SCALED_LIMITS))  # type: ignore[call-arg]
    service = EchoService(index)
    register_echo_service(server, service)
    server.service = service  # type: ignore[attr-defined]
    return server

@asynccontextmanager
async def leak_checked(managers: Callable[[], list[g.Manager]] = list,
                       servers: Callable[[], list[Server]] = list) -> AsyncIterator[None]:
    """After the block: no task, route, connection or file descriptor left behind."""
    tasks, fds = task_baseline(), open_fds()
    yield
    await assert_no_leaks(tasks, managers=managers(), servers=servers(), settle=5.0)
    await assert_no_fd_leak(fds, settle=5.0)


@dataclass
class Proxied:
    cfg: g.Configuration
    proxies: list[FaultProxy]
    servers: TestServers


@asynccontextmanager
async def proxied_configuration(n: int = 3, **manager_options: Any) -> AsyncIterator[Proxied]:
    """``n`` echo servers, each behind a :class:`FaultProxy`, and a configuration
    over the proxies (node i is server i); leak-checked after."""
    mgr: list[g.Manager] = []
    srv: list[Server] = []
    async with leak_checked(lambda: mgr, lambda: srv), test_servers(n) as servers:
        srv.extend(servers.servers)
        async with _proxies(servers.addresses) as proxies, \
                g.Manager(**manager_options) as manager:
            mgr.append(manager)
            cfg = manager.new_configuration(
                g.with_node_map({p.address: i for i, p in enumerate(proxies)}))
            yield Proxied(cfg, proxies, servers)


@asynccontextmanager
async def _proxies(targets: list[str]) -> AsyncIterator[list[FaultProxy]]:
    if not targets:
        yield []
        return
    async with FaultProxy(targets[0]) as first, _proxies(targets[1:]) as rest:
        yield [first, *rest]


class ServerProcesses:
    """Echo servers in processes of their own (one each), to stop, kill, restart."""

    def __init__(self, n: int, backend: str) -> None:
        self.backend = backend
        self.procs: list[subprocess.Popen[bytes]] = []
        self.addresses: list[str] = []
        for _ in range(n):
            proc, addrs = spawn_echo_servers(["127.0.0.1:0"], backend=backend, lifetime=120)
            self.procs.append(proc)
            self.addresses.append(addrs[0])

    def stop_signal(self, i: int) -> None:
        os.kill(self.procs[i].pid, signal.SIGSTOP)

    def continue_signal(self, i: int) -> None:
        os.kill(self.procs[i].pid, signal.SIGCONT)

    def kill(self, i: int) -> None:
        self.procs[i].kill()
        self.procs[i].wait(10)

    def restart(self, i: int) -> None:
        """Start server ``i`` again on its old port."""
        stop_process(self.procs[i])
        self.procs[i], _ = spawn_echo_servers([self.addresses[i]], backend=self.backend,
                                              lifetime=120)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)  # a stopped process cannot exit
            stop_process(proc)


@contextmanager
def server_processes(n: int, backend: str) -> Iterator[ServerProcesses]:
    procs = ServerProcesses(n, backend)
    try:
        yield procs
    finally:
        procs.close()


@dataclass
class Partitionable:
    """A client host linked to ``n`` server hosts; servers run in this process."""

    lab: NetLab
    client: Host
    hosts: list[Host]
    links: list[Link]
    servers: list[Server]
    addresses: list[str]


@asynccontextmanager
async def namespace_servers(lab: NetLab, n: int = 3,
                            srv_fn: Callable[[int], Server] = echo_server_fn,
                            ) -> AsyncIterator[Partitionable]:
    """Hosts ``client`` and ``s0..s{n-1}``, a link from the client to each
    server host, and an echo server per server host listening on its end."""
    client = lab.host("client")
    hosts = [lab.host(f"s{i}") for i in range(n)]
    links = [lab.link(client, h) for h in hosts]
    servers = [srv_fn(i) for i in range(n)]
    async with anyio.create_task_group() as tg:
        addresses = []
        for host, link, server in zip(hosts, links, servers, strict=True):
            with host.entered():
                _, port = await tg.start(server.serve_tcp, link.b_addr, 0)
            addresses.append(f"{link.b_addr}:{port}")
        try:
            yield Partitionable(lab, client, hosts, links, servers, addresses)
        finally:
            for server in servers:
                server.stop()
