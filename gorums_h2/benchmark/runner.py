"""The benchmarks of ``gorums-h2 benchmark`` (Go's ``benchmark.GetBenchmarks``).

Every benchmark warms up for ``Options.warmup`` seconds, then measures for
``Options.duration`` seconds with ``Options.concurrent`` tasks:

* closed-loop calls (QuorumCall, SlowServer, OrderedRPC): each task calls,
  waits for the reply, records the latency, repeats;
* AsyncQuorumCall: each task keeps up to ``max_async / concurrent`` async
  quorum calls in flight, waiting for the oldest;
* one-way (Multicast, Unicast): the servers count messages and measure
  one-way latency from the message's send time (StartServerBenchmark /
  StopServerBenchmark, as Go does); the client's CPU per send is reported.

Unicast and OrderedRPC use methods Go's schema lacks: against remote servers
that do not serve them they are skipped.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from gorums_h2.benchmark import benchmark_gorums as bg
from gorums_h2.benchmark.benchmark_pb2 import Echo, Result, StartRequest, StopRequest, TimedMsg
from gorums_h2.benchmark.progress import NoProgress
from gorums_h2.benchmark.stats import BenchResult, LatencyStats, combine_server_results
from gorums_h2.configuration import Configuration
from gorums_h2.manager import Manager
from gorums_h2.nodelist import with_node_ids, with_node_list
from gorums_h2.wire.status import StatusError

__all__ = ["BENCHMARKS", "Bench", "BenchContext", "Options", "run_benchmarks", "select"]


@dataclass(frozen=True)
class Options:
    """Benchmark options (Go's ``benchmark.Options``); times in seconds."""

    config_size: int = 4
    quorum_size: int = 0
    payload: int = 0
    concurrent: int = 1
    max_async: int = 1000
    duration: float = 1.0
    warmup: float = 0.1
    send_buffer: int = 0
    remote: bool = False

    def __post_init__(self) -> None:
        if self.concurrent < 1:
            raise ValueError("concurrent must be at least 1")
        if self.max_async < 1:
            raise ValueError("max_async must be at least 1")
        if self.payload < 0:
            raise ValueError("payload must not be negative")
        if self.duration <= 0 or self.warmup < 0:
            raise ValueError("duration must be positive and warmup not negative")

    def effective_quorum(self, nodes: int) -> int:
        """Go's rule: 1 node -> 1; unset -> nodes // 2 (at least 1); capped at nodes."""
        if nodes == 1:
            return 1
        if self.quorum_size < 1:
            return max(nodes // 2, 1)
        return min(self.quorum_size, nodes)


@dataclass
class BenchContext:
    """What a benchmark runs against."""

    manager: Manager
    config: Configuration
    options: Options
    quorum: int
    progress: NoProgress = field(default_factory=NoProgress)
    server_cpu: Callable[[], float | None] | None = None

    @property
    def echo(self) -> Echo:
        return Echo(payload=bytes(self.options.payload))


BenchFn = Callable[[str, BenchContext], Awaitable[BenchResult]]


@dataclass(frozen=True)
class Bench:
    name: str
    description: str
    run: BenchFn
    python_only: bool = False


# ---- the measuring loops ----


async def _for_each_task(n: int, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(fn)


class _Deadline:
    """When the current phase ends (``perf_counter_ns``), shared with the workers."""

    __slots__ = ("ns",)

    def __init__(self) -> None:
        self.ns = 0

    def start(self, seconds: float) -> None:
        self.ns = time.perf_counter_ns() + int(seconds * 1e9)


async def _client_measured(name: str, bctx: BenchContext, stats: LatencyStats,
                           deadline: _Deadline,
                           warm: Callable[[], Coroutine[Any, Any, None]],
                           measure: Callable[[], Coroutine[Any, Any, None]]) -> BenchResult:
    """Warm up, drain, measure (latency measured by the client), drain; with
    the remote servers' start/stop and the local servers' CPU around it."""
    opts = bctx.options
    bctx.progress.phase(name, "warmup", opts.warmup)
    deadline.start(opts.warmup)
    await _for_each_task(opts.concurrent, warm)
    await _drain(bctx)
    await _start_remote(bctx)
    bctx.progress.phase(name, "measure", opts.duration, stats)
    cpu0 = _server_cpu(bctx)
    stats.start()
    deadline.start(opts.duration)
    await _for_each_task(opts.concurrent, measure)
    stats.end()
    result = BenchResult.from_client(name, stats)
    await _drain(bctx)
    _add_server_cpu(bctx, result, cpu0, stats.count)
    await _stop_remote(bctx, result)
    return result


async def _closed_loop(name: str, bctx: BenchContext,
                       call: Callable[[], Awaitable[object]]) -> BenchResult:
    perf = time.perf_counter_ns
    stats = LatencyStats()
    deadline = _Deadline()

    async def warm() -> None:
        while perf() < deadline.ns:
            await call()

    async def measure() -> None:
        add = stats.add
        while perf() < deadline.ns:
            t0 = perf()
            await call()
            add(perf() - t0)

    return await _client_measured(name, bctx, stats, deadline, warm, measure)


async def _async_loop(name: str, bctx: BenchContext) -> BenchResult:
    opts = bctx.options
    ctx = bctx.config.context()
    msg = bctx.echo
    q = bctx.quorum
    limit = max(opts.max_async // opts.concurrent, 1)
    perf = time.perf_counter_ns
    stats = LatencyStats()
    deadline = _Deadline()

    async def worker(record: bool) -> None:
        inflight: deque[tuple[int, bg.EchoAsync]] = deque()
        add = stats.add
        while True:
            now = perf()
            while now < deadline.ns and len(inflight) < limit:
                inflight.append((now, bg.quorum_call(ctx, msg).async_threshold(q)))
                now = perf()
            if not inflight:
                return
            t0, fut = inflight.popleft()
            await fut
            if record:
                add(perf() - t0)

    async def warm() -> None:
        await worker(False)

    async def measure() -> None:
        await worker(True)

    result = await _client_measured(name, bctx, stats, deadline, warm, measure)
    in_flight = limit * opts.concurrent
    if in_flight > 1:
        result.note = (f"latency includes queueing: up to {in_flight} calls in flight "
                       "(--max-async)")
    return result


async def _one_way_loop(name: str, bctx: BenchContext, config: Configuration,
                        send: Callable[[TimedMsg], Awaitable[None]]) -> BenchResult:
    opts = bctx.options
    payload = bytes(opts.payload)
    perf = time.perf_counter_ns
    wall = time.time_ns
    client = LatencyStats()
    end_ns = 0

    async def worker() -> None:
        while perf() < end_ns:
            await send(TimedMsg(send_time=wall(), payload=payload))
            client.count += 1

    ctx = config.context()
    bctx.progress.phase(name, "warmup", opts.warmup)
    end_ns = perf() + int(opts.warmup * 1e9)
    await _for_each_task(opts.concurrent, worker)
    await bg.start_server_benchmark(ctx, StartRequest()).all()
    client.count = 0
    bctx.progress.phase(name, "measure", opts.duration, client)
    cpu0 = _server_cpu(bctx)
    client.start()
    end_ns = perf() + int(opts.duration * 1e9)
    await _for_each_task(opts.concurrent, worker)
    client.end()
    bctx.progress.phase(name, "draining", 0.0)
    replies: list[Result] = []
    async for reply in bg.stop_server_benchmark(ctx, StopRequest()):
        if reply.err is not None:
            raise reply.err
        assert reply.value is not None
        replies.append(reply.value)
    result = BenchResult.from_servers(name, combine_server_results(replies), client)
    # senders do not wait for the servers: messages queue in buffers, and the
    # servers' one-way latency counts that wait
    result.note = "latency includes queueing: sends do not wait for the servers"
    _add_server_cpu(bctx, result, cpu0, result.total_ops)
    return result


async def _drain(bctx: BenchContext) -> None:
    """Wait until every server handled everything sent so far: a quorum call
    to all nodes, answered after the requests queued before it (FIFO), so
    replies a call did not wait for (quorum < nodes) neither slow the next
    phase nor escape its server CPU figure."""
    await bg.quorum_call(bctx.config.context(), Echo()).all()


def _server_cpu(bctx: BenchContext) -> float | None:
    return bctx.server_cpu() if bctx.server_cpu is not None else None


def _add_server_cpu(bctx: BenchContext, result: BenchResult, cpu0: float | None,
                    ops: int) -> None:
    cpu1 = _server_cpu(bctx)
    if cpu0 is not None and cpu1 is not None and ops:
        result.server_cpu_per_10k = (cpu1 - cpu0) / ops * 10_000


async def _start_remote(bctx: BenchContext) -> None:
    if bctx.options.remote:
        await bg.start_benchmark(bctx.config.context(), StartRequest()).all()


async def _stop_remote(bctx: BenchContext, result: BenchResult) -> None:
    if not bctx.options.remote:
        return
    async for reply in bg.stop_benchmark(bctx.config.context(), StopRequest()):
        if reply.err is None and reply.value is not None:
            result.server_stats.append(
                {"allocs": reply.value.allocs, "memory": reply.value.memory})


# ---- the benchmarks ----


async def _quorum_call(name: str, bctx: BenchContext) -> BenchResult:
    ctx, msg, q = bctx.config.context(), bctx.echo, bctx.quorum
    return await _closed_loop(name, bctx, lambda: bg.quorum_call(ctx, msg).threshold(q))


async def _async_quorum_call(name: str, bctx: BenchContext) -> BenchResult:
    return await _async_loop(name, bctx)


async def _slow_server(name: str, bctx: BenchContext) -> BenchResult:
    ctx, msg, q = bctx.config.context(), bctx.echo, bctx.quorum
    return await _closed_loop(name, bctx, lambda: bg.slow_server(ctx, msg).threshold(q))


async def _multicast(name: str, bctx: BenchContext) -> BenchResult:
    ctx = bctx.config.context()

    async def send(msg: TimedMsg) -> None:
        await bg.multicast(ctx, msg)

    return await _one_way_loop(name, bctx, bctx.config, send)


async def _unicast(name: str, bctx: BenchContext) -> BenchResult:
    node = bctx.config.nodes()[0]
    one = bctx.manager.new_configuration(with_node_ids([node.id]))
    ctx = node.context()

    async def send(msg: TimedMsg) -> None:
        await bg.unicast(ctx, msg)

    return await _one_way_loop(name, bctx, one, send)


async def _ordered_rpc(name: str, bctx: BenchContext) -> BenchResult:
    ctx, msg = bctx.config.nodes()[0].context(), bctx.echo
    return await _closed_loop(name, bctx, lambda: bg.ordered_rpc(ctx, msg))


BENCHMARKS: tuple[Bench, ...] = (
    Bench("QuorumCall", "quorum call on the NodeStream, FIFO ordered, closed loop",
          _quorum_call),
    Bench("AsyncQuorumCall", "async quorum calls (futures), up to --max-async in flight",
          _async_quorum_call),
    Bench("SlowServer", "quorum call with a 10 ms handler that releases the stream first",
          _slow_server),
    Bench("Multicast", "multicast to every node (servers measure throughput and latency)",
          _multicast),
    Bench("Unicast", "unicast to one node (the server measures throughput and latency)",
          _unicast, python_only=True),
    Bench("OrderedRPC", "ordered RPC to one node, closed loop", _ordered_rpc,
          python_only=True),
)


def select(pattern: str) -> list[Bench]:
    """The benchmarks whose name matches the regular expression ``pattern``
    (``re.search``). Raises ValueError for an invalid pattern."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid --benchmarks pattern {pattern!r}: {exc}") from None
    return [b for b in BENCHMARKS if regex.search(b.name)]


async def _connected(config: Configuration, limit: float = 20.0) -> None:
    """Wait until every node is connected; ConnectionError naming the first
    node whose connection attempt failed (no waiting for reconnects)."""
    with anyio.fail_after(limit):
        for node in config:
            while not node.connected:
                if node.last_err is not None:
                    raise ConnectionError(f"cannot connect to {node.address}: {node.last_err}")
                await anyio.sleep(0.005)


async def _serves_extensions(config: Configuration) -> bool:
    """True if the first node answers OrderedRPC (Python benchmark servers do)."""
    ctx = config.nodes()[0].context(timeout=2.0)
    try:
        await bg.ordered_rpc(ctx, Echo())
    except StatusError:
        return False
    return True


async def run_benchmarks(
    addresses: Sequence[str],
    options: Options,
    benches: Sequence[Bench],
    *,
    progress: NoProgress | None = None,
    server_cpu: Callable[[], float | None] | None = None,
) -> list[BenchResult]:
    """Run ``benches`` against the first ``options.config_size`` of
    ``addresses`` (all if config_size < 1) and return their results.

    Raises the first call error (a StatusError / QuorumCallError) as is.
    """
    n = len(addresses) if options.config_size < 1 else min(options.config_size, len(addresses))
    if n < 1:
        raise ValueError("no server addresses")
    progress = progress or NoProgress()
    results: list[BenchResult] = []
    async with Manager(send_buffer_size=options.send_buffer) as mgr, \
            anyio.create_task_group() as tg:
        await tg.start(progress.run)
        config = mgr.new_configuration(with_node_list(addresses[:n]))
        await _connected(config)
        bctx = BenchContext(mgr, config, options, options.effective_quorum(n), progress,
                            server_cpu)
        extensions = True
        if options.remote and any(b.python_only for b in benches):
            extensions = await _serves_extensions(config)
        for bench in benches:
            if bench.python_only and not extensions:
                progress.note(f"{bench.name}: skipped (the remote servers do not serve it)")
                continue
            results.append(await bench.run(bench.name, bctx))
        progress.done()
        tg.cancel_scope.cancel()
    return results
