"""``gorums-h2 benchmark``: Go Gorums' ``cmd/benchmark`` for gorums_h2.

Runs the benchmarks whose names match ``--benchmarks`` against local servers
(``--config-size`` of them, each in its own process, stopped at the end) or
``--remotes`` (Go or Python benchmark servers), and prints a table:
throughput, mean latency, standard deviation, p50, p99, client CPU seconds
per 10 000 operations, server CPU per 10 000 operations (local servers),
and the client's peak RSS. ``--json`` prints the same as JSON. ``--server
ADDR`` only serves (``host:port``). Exit status 0, 1 on errors, 2 on bad
arguments.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import pstats
import signal
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from typing import Any

import anyio

from gorums_h2.cli._args import duration

__all__ = ["format_table", "register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "benchmark", help="run the gorums benchmarks (Go's cmd/benchmark)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmarks", default=".*", metavar="REGEX",
                   help="run the benchmarks whose name matches REGEX (default: all)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--config-size", type=int, default=4,
                   help="nodes in the configuration (< 1: all remotes; default 4)")
    p.add_argument("--quorum-size", type=int, default=0,
                   help="replies a quorum call waits for (default: config size / 2)")
    p.add_argument("--payload", type=int, default=0, help="payload bytes per message")
    p.add_argument("--concurrent", type=int, default=1, help="concurrent caller tasks")
    p.add_argument("--max-async", type=int, default=1000,
                   help="async quorum calls in flight at most (AsyncQuorumCall)")
    p.add_argument("--send-buffer", type=int, default=0,
                   help="messages that may wait unwritten per node (0: byte limit only)")
    p.add_argument("--server-buffer", type=int, default=0,
                   help="requests a client may have queued per server stream (local servers)")
    p.add_argument("--time", type=duration, default=1.0, metavar="DURATION",
                   help="measured duration of each benchmark, e.g. 500ms, 2s, 1m30s "
                        "(a bare number is seconds; default 1s)")
    p.add_argument("--warmup", type=duration, default=0.1, metavar="DURATION",
                   help="warmup before each benchmark (default 100ms)")
    p.add_argument("--remotes", default="", metavar="ADDR,...",
                   help="comma-separated host:port of running benchmark servers")
    p.add_argument("--server", default="", metavar="ADDR",
                   help="only run a benchmark server on ADDR until interrupted (HOST:PORT; "
                   ":PORT is 127.0.0.1:PORT, 0.0.0.0:PORT all interfaces)")
    p.add_argument("--backend", default="asyncio", choices=("asyncio", "trio", "uvloop"),
                   help="event loop of the client (and local servers); default asyncio")
    p.add_argument("--server-backend", default=None, choices=("asyncio", "trio", "uvloop"),
                   help="event loop of local servers (default: --backend)")
    p.add_argument("--server-procs", type=int, default=0,
                   help="processes for the local servers (default: one per server)")
    p.add_argument("--profile", default="", metavar="FILE",
                   help="cProfile the client into FILE (pstats) and print the top functions")
    p.add_argument("--wire", default="ordering", choices=("ordering", "stream"),
                   help="NodeStream wire: ordering (Go Gorums v0.11, default) or stream "
                        "(Go Gorums master); local servers serve both")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gorums_h2.benchmark.runner import BENCHMARKS, Options, select

    if args.list:
        width = max(len(b.name) for b in BENCHMARKS)
        for b in BENCHMARKS:
            extra = " [Python servers only]" if b.python_only else ""
            print(f"{b.name + ':':<{width + 1}}  {b.description}{extra}")
        return 0
    if args.server:
        return _serve(args.server, args.server_buffer, args.backend)
    try:
        _check_addresses(args)
        benches = select(args.benchmarks)
        options = Options(
            config_size=args.config_size, quorum_size=args.quorum_size, payload=args.payload,
            concurrent=args.concurrent, max_async=args.max_async, duration=args.time,
            warmup=args.warmup, send_buffer=args.send_buffer, remote=bool(args.remotes),
            wire=args.wire)
    except ValueError as exc:
        print(f"gorums-h2 benchmark: {exc}", file=sys.stderr)
        return 2
    if not benches:
        print(f"gorums-h2 benchmark: no benchmark matches {args.benchmarks!r} "
              "(see --list)", file=sys.stderr)
        return 2
    try:
        results, n, profile_text = _run(args, options, benches)
    except Exception as exc:
        print(f"gorums-h2 benchmark: {_describe(exc)}", file=sys.stderr)
        return 1
    if profile_text:
        print(profile_text, file=sys.stderr)
    quorum = options.effective_quorum(n)
    if args.json:
        doc = {
            "options": {**asdict(options), "config_size": n, "quorum_size": quorum,
                        "backend": args.backend},
            "results": [r.as_dict() for r in results],
        }
        print(json.dumps(doc, indent=2))
    else:
        print(f"# {n} nodes, quorum {quorum}, payload {options.payload} B, "
              f"{options.concurrent} concurrent, backend {args.backend}"
              f"{', remote servers' if options.remote else ''}")
        print(format_table(results))
    return 0


def _check_addresses(args: argparse.Namespace) -> None:
    """Usage errors in --remotes / --config-size, before anything starts (ValueError)."""
    from gorums_h2.nodelist import parse_address

    if args.remotes:
        remotes = [a.strip() for a in args.remotes.split(",") if a.strip()]
        if not remotes:
            raise ValueError("--remotes names no address")
        for address in remotes:
            try:
                parse_address(address)
            except ValueError as exc:
                raise ValueError(f"--remotes: {exc}") from None
    elif args.config_size < 1:
        raise ValueError("--config-size must be at least 1 without --remotes")


def _describe(exc: BaseException) -> str:
    """The leaf exceptions of ``exc`` (task groups wrap them in groups)."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def _run(args: argparse.Namespace, options: Any, benches: Sequence[Any]
         ) -> tuple[list[Any], int, str]:
    from gorums_h2.benchmark.procs import LocalServers
    from gorums_h2.benchmark.progress import NoProgress, Progress
    from gorums_h2.benchmark.runner import run_benchmarks
    from gorums_h2.benchmark.server import run_backend

    with ExitStack() as stack:
        server_cpu = None
        if args.remotes:
            addresses = [a.strip() for a in args.remotes.split(",") if a.strip()]
        else:
            if args.config_size < 1:
                raise ValueError("--config-size must be at least 1 without --remotes")
            servers = stack.enter_context(LocalServers(
                args.config_size, procs=args.server_procs or None,
                backend=args.server_backend or args.backend, server_buffer=args.server_buffer))
            addresses = servers.addresses
            server_cpu = servers.cpu_seconds
        n = len(addresses) if options.config_size < 1 else min(options.config_size,
                                                                 len(addresses))
        progress = NoProgress() if args.no_progress else Progress(len(benches))
        profiler = cProfile.Profile() if args.profile else None

        interrupted = False

        async def main() -> list[Any]:
            # Ctrl-C as a signal we receive and turn into a cancellation, not a
            # KeyboardInterrupt that trio may raise anywhere (raised inside a
            # nursery's exit, it corrupts trio's nursery stack)
            nonlocal interrupted
            results: list[Any] = []
            with anyio.open_signal_receiver(signal.SIGINT) as signals:
                async with anyio.create_task_group() as tg:

                    async def watch() -> None:
                        nonlocal interrupted
                        async for _ in signals:
                            interrupted = True
                            tg.cancel_scope.cancel()
                            return

                    tg.start_soon(watch)
                    if profiler is not None:
                        profiler.enable()
                    try:
                        results = await run_benchmarks(
                            addresses, options, benches, progress=progress,
                            server_cpu=server_cpu)
                    finally:
                        if profiler is not None:
                            profiler.disable()
                    tg.cancel_scope.cancel()
            return results

        try:
            results: list[Any] = run_backend(main, backend=args.backend)  # type: ignore[assignment]
        except Exception:
            # a call that Ctrl-C's cancellation cut off may end with its own
            # error (its connection closed under it) rather than Cancelled
            if interrupted:
                raise KeyboardInterrupt from None
            raise
        if interrupted:
            raise KeyboardInterrupt
        text = ""
        if profiler is not None:
            profiler.dump_stats(args.profile)
            text = profile_summary(profiler, 25)
        return results, n, text


def profile_summary(profiler: cProfile.Profile | str, limit: int = 25) -> str:
    """The top ``limit`` functions by own time (tottime) of a profile."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def format_table(results: Sequence[Any]) -> str:
    """The results as an aligned text table."""
    head = ["Benchmark", "Throughput", "Latency", "Std.dev", "p50", "p99",
            "CPU/10k ops", "Srv CPU/10k", "Peak RSS"]
    rows = [head]
    for r in results:
        rows.append([
            r.name + (" *" if r.measured_by == "servers" else ""),
            f"{r.throughput:.1f} ops/s",
            f"{r.latency_avg_ms:.3f} ms",
            f"{r.latency_std_ms:.3f} ms",
            _fmt(r.p50_ms, ".3f") + (" ms" if r.p50_ms is not None else ""),
            _fmt(r.p99_ms, ".3f") + (" ms" if r.p99_ms is not None else ""),
            f"{r.cpu_per_10k:.3f} s",
            _fmt(r.server_cpu_per_10k, ".3f") + (
                " s" if r.server_cpu_per_10k is not None else ""),
            f"{r.peak_rss_mib:.1f} MiB",
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    if any(r.measured_by == "servers" for r in results):
        lines.append("* one-way: throughput and latency measured by the servers")
    # latency under many calls in flight is mostly time waiting in queues,
    # not one call's service time (compare QuorumCall's closed loop)
    lines += [f"{r.name}: {r.note}" for r in results if r.note]
    return "\n".join(lines)


def _serve(address: str, server_buffer: int, backend: str) -> int:
    from gorums_h2.benchmark.server import run_backend, serve
    from gorums_h2.nodelist import parse_listen_address

    try:
        # port 0: a free port (printed in the LISTENING line)
        host, port = parse_listen_address(address)
    except ValueError as exc:
        print(f"gorums-h2 benchmark: {exc}", file=sys.stderr)
        return 2
    print(f"Running benchmark server on '{address}'", file=sys.stderr, flush=True)

    async def main() -> None:
        await serve(host, [port], server_buffer=server_buffer, watch_parent=False)

    try:
        run_backend(main, backend=backend)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"gorums-h2 benchmark: cannot serve on {address}: {exc}", file=sys.stderr)
        return 1
    return 0
