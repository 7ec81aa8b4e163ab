"""The benchmark server (Go's ``benchmark.NewBenchServer``), also runnable as
a process: ``python -m gorums_h2.benchmark.server [--count N] [--port P]``.

The process starts ``N`` servers (each on its own port; ``--port`` is the
first one, 0 for free ports), prints ``LISTENING host:port`` for each on
stdout, one line each, flushed, and serves until SIGTERM/SIGINT, or until its
parent process exits (so local servers never outlive ``gorums-h2
benchmark``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence

import anyio
import anyio.abc

from gorums_h2.benchmark import benchmark_gorums as bg
from gorums_h2.benchmark.benchmark_pb2 import (
    Echo,
    MemoryStat,
    Result,
    StartRequest,
    StartResponse,
    StopRequest,
    TimedMsg,
)
from gorums_h2.benchmark.stats import LatencyStats
from gorums_h2.nodelist import canonical_address
from gorums_h2.server import Server, ServerCtx

__all__ = ["BACKENDS", "BenchmarkService", "main", "new_bench_server", "run_backend", "serve"]

SLOW_SERVER_DELAY = 0.010
"""Handler time of ``SlowServer`` (Go: 10 ms, after releasing the stream)."""

BACKENDS = ("asyncio", "trio", "uvloop")


class BenchmarkService:
    """Implements ``benchmark.Benchmark``.

    One-way messages (Multicast, Unicast) add their one-way latency
    (``now - send_time``, wall clock) to :attr:`stats`, which
    StartServerBenchmark resets and StopServerBenchmark reports. Memory
    statistics are Go-specific: Python servers report zeros.
    """

    def __init__(self) -> None:
        self.stats = LatencyStats()

    async def start_server_benchmark(self, ctx: ServerCtx, req: StartRequest, /
                                     ) -> StartResponse:
        self.stats.clear()
        self.stats.start()
        return StartResponse()

    async def stop_server_benchmark(self, ctx: ServerCtx, req: StopRequest, /) -> Result:
        self.stats.end()
        return self.stats.to_proto()

    async def start_benchmark(self, ctx: ServerCtx, req: StartRequest, /) -> StartResponse:
        self.stats.clear()
        self.stats.start()
        return StartResponse()

    async def stop_benchmark(self, ctx: ServerCtx, req: StopRequest, /) -> MemoryStat:
        self.stats.end()
        return MemoryStat()

    async def quorum_call(self, ctx: ServerCtx, req: Echo, /) -> Echo:
        return req

    async def slow_server(self, ctx: ServerCtx, req: Echo, /) -> Echo:
        ctx.release()
        await anyio.sleep(SLOW_SERVER_DELAY)
        return req

    async def multicast(self, ctx: ServerCtx, req: TimedMsg, /) -> None:
        self._one_way(req)

    async def unicast(self, ctx: ServerCtx, req: TimedMsg, /) -> None:
        self._one_way(req)

    async def ordered_rpc(self, ctx: ServerCtx, req: Echo, /) -> Echo:
        return req

    def _one_way(self, req: TimedMsg) -> None:
        self.stats.add(max(time.time_ns() - req.send_time, 0))


def new_bench_server(*, server_buffer: int = 0) -> Server:
    """A :class:`Server` serving :class:`BenchmarkService` (``server.service``)."""
    server = Server(receive_buffer_size=server_buffer)
    service = BenchmarkService()
    bg.register_benchmark_server(server, service)
    server.service = service  # type: ignore[attr-defined]
    return server


async def serve(host: str, ports: Sequence[int], *, server_buffer: int = 0,
                announce: bool = True, watch_parent: bool = True) -> None:
    """Serve one benchmark server per port until a signal (or the parent
    process exits); prints ``LISTENING host:port`` for each when ``announce``."""
    parent = os.getppid()
    async with anyio.create_task_group() as tg:
        servers = []
        for port in ports:
            server = new_bench_server(server_buffer=server_buffer)
            bound_host, bound_port = await tg.start(server.serve_tcp, host, port)
            servers.append(server)
            if announce:
                print(f"LISTENING {canonical_address(bound_host, bound_port)}", flush=True)
        tg.start_soon(until_signal, tg.cancel_scope)
        if watch_parent:
            tg.start_soon(until_orphaned, parent, tg.cancel_scope)
        await anyio.sleep_forever()


async def until_signal(scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` at the first SIGTERM or SIGINT."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def until_orphaned(parent: int, scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` once the process ``parent`` is no longer our parent (it died)."""
    while os.getppid() == parent:  # noqa: ASYNC110 (polling: no event to wait for)
        await anyio.sleep(0.5)
    scope.cancel()


def run_backend(fn: object, *args: object, backend: str = "asyncio") -> object:
    """``anyio.run(fn, *args)`` on ``asyncio``, ``trio`` or ``uvloop``
    (asyncio with uvloop's event loop). Raises ValueError for another name,
    RuntimeError if uvloop (or trio) is not installed."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    options: dict[str, object] = {}
    name = backend
    if backend == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise RuntimeError("backend 'uvloop' needs uvloop: pip install uvloop") from None
        name = "asyncio"
        options = {"use_uvloop": True}
    elif backend == "trio":
        try:
            import trio  # noqa: F401
        except ImportError:
            raise RuntimeError("backend 'trio' needs trio: pip install trio") from None
    return anyio.run(fn, *args, backend=name, backend_options=options)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m gorums_h2.benchmark.server", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0,
                    help="first port (the others follow it); 0: free ports")
    ap.add_argument("--count", type=int, default=1, help="servers in this process")
    ap.add_argument("--server-buffer", type=int, default=0,
                    help="requests a client may have queued per stream (0: no limit)")
    ap.add_argument("--backend", choices=BACKENDS, default="asyncio")
    args = ap.parse_args(argv)
    if args.count < 1:
        ap.error("--count must be at least 1")
    ports = [args.port + i if args.port else 0 for i in range(args.count)]
    try:
        run_backend(_serve_args, args.host, ports, args.server_buffer, backend=args.backend)
    except KeyboardInterrupt:
        pass
    except (OSError, RuntimeError) as exc:
        print(f"benchmark server: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve_args(host: str, ports: list[int], server_buffer: int) -> None:
    await serve(host, ports, server_buffer=server_buffer)


if __name__ == "__main__":
    sys.exit(main())
