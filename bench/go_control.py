"""What grpc-go's per-message control frames cost us, client and server side.

    python bench/go_control.py [--backend asyncio|uvloop|trio] [--rounds 3] [--time 2]

grpc-go sends a BDP PING and a connection WINDOW_UPDATE with every message it
receives (docs/performance.md, "Go peers"). Three setups of ``gorums-h2
benchmark`` QuorumCall (one caller, ``--nodes`` servers, majority) run
interleaved, ``--rounds`` times, each client a fresh process against two
running server processes (a plain one and a Go-like one,
:mod:`benchlib.go_control`):

* ``plain``: our client, our server;
* ``go-server``: our client against the Go-like server (client CPU per call
  is the goal: <= 1.1x ``plain``);
* ``go-client``: a Go-like client of ours against our plain server (server
  CPU per call is the goal: <= 1.1x ``plain``).

Prints the median of the rounds: calls/s, client and server CPU seconds per
10k calls, and the client's socket writes per call and node (whole runs
over measured calls, so slightly high).

``--calls``: instead of CPU, count function calls (cProfile, builtins
included) per call in the client and in the servers, whose timing cProfile
changes but whose counts it does not (whole runs, warmup included, over
measured calls: slightly high, alike in every setup).
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from gorums_h2.benchmark.procs import (  # noqa: E402
    process_cpu_seconds,
    spawn_listening,
    stop_process,
)

SETUPS = ("plain", "go-server", "go-client")


_WRITES = [0]


def _count_writes() -> None:
    """Count socket writes of this process: every I/O strategy confirms each
    write to the core once."""
    from gorums_h2.wire.protocol import ConnectionCore

    confirm = ConnectionCore.confirm_written

    def confirm_written(self: ConnectionCore) -> None:
        _WRITES[0] += 1
        confirm(self)

    ConnectionCore.confirm_written = confirm_written  # type: ignore[method-assign]


_CALLCOUNT = operator.attrgetter("callcount")


def _serve(args: argparse.Namespace) -> int:
    if args.go_like:
        from benchlib import go_control

        go_control.install()
    from gorums_h2.benchmark import server

    if args.calls_file:
        # --calls: SIGUSR1 starts a fresh profile, the next one stops it and
        # writes its count of calls to the file (around each client run)
        import cProfile

        state: dict[str, Any] = {"reports": 0, "profiler": None}

        def report(_sig: int, _frame: object) -> None:
            profiler = state["profiler"]
            total = 0
            if profiler is None:
                state["profiler"] = profiler = cProfile.Profile()
                profiler.enable()
            else:
                profiler.disable()
                state["profiler"] = None
                total = sum(map(_CALLCOUNT, profiler.getstats()))
            state["reports"] += 1
            part = Path(args.calls_file + ".part")
            part.write_text(f"{state['reports']} {total}")
            part.replace(args.calls_file)  # the reader never sees half a number

        signal.signal(signal.SIGUSR1, report)
    return server.main(["--count", str(args.nodes), "--backend", args.backend])


_REPORTS: dict[int, int] = {}


def _server_calls(server: subprocess.Popen[bytes], path: str) -> int:
    """Start (0) or stop counting a ``--calls`` server's function calls: the
    count since the start (its report numbered as our request, not an
    earlier one that arrived late)."""
    seq = _REPORTS[server.pid] = _REPORTS.get(server.pid, 0) + 1
    server.send_signal(signal.SIGUSR1)
    for _ in range(500):  # bounded: 10 s
        try:
            got, total = map(int, Path(path).read_text().split())
        except (FileNotFoundError, ValueError):
            got = total = 0
        if got == seq:
            return total
        time.sleep(0.02)
    raise RuntimeError("the server did not report its call count")


def _client(args: argparse.Namespace) -> int:
    if args.go_like:
        from benchlib import go_control

        go_control.install()
    import contextlib
    import io

    from gorums_h2.cli import main

    _count_writes()

    out = io.StringIO()
    profile = ["--profile", args.calls_file] if args.calls_file else []
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["benchmark", "--benchmarks", "^QuorumCall$", "--remotes", args.remotes,
                     "--config-size", "0", "--time", str(args.time), "--warmup", "0.2",
                     "--backend", args.backend, "--json", "--no-progress", *profile])
    doc = json.loads(out.getvalue())
    doc["writes"] = _WRITES[0]  # the whole run's, warmup and setup included
    if args.calls_file:
        import pstats

        doc["calls"] = pstats.Stats(args.calls_file).total_calls  # type: ignore[attr-defined]
    print(json.dumps(doc))
    return code


def _run_client(remotes: str, go_like: bool, args: argparse.Namespace,
                servers: list[subprocess.Popen[bytes]],
                calls_files: list[str]) -> dict[str, float]:
    cpu0 = [process_cpu_seconds(s.pid) or 0.0 for s in servers]
    cmd = [sys.executable, __file__, "client", "--remotes", remotes, "--time", str(args.time),
           "--backend", args.backend] + (["--go-like"] if go_like else [])
    if args.calls:
        for s, f in zip(servers, calls_files, strict=True):
            _server_calls(s, f)  # starts counting
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.Popen([*cmd, "--calls-file", f"{tmp}/client.pstats"],
                                    stdout=subprocess.PIPE)
            out, _ = proc.communicate(timeout=120)
        server_calls = sum(_server_calls(s, f) for s, f in zip(servers, calls_files, strict=True))
        doc = json.loads(out)
        ops = doc["results"][0]["total_ops"]
        return {"client calls/call": doc["calls"] / max(ops, 1),
                "server calls/call": server_calls / max(ops, 1)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=120)
    doc = json.loads(out)
    result = doc["results"][0]
    ops = result["total_ops"]
    server_cpu = sum((process_cpu_seconds(s.pid) or 0.0) - c
                     for s, c in zip(servers, cpu0, strict=True))
    return {
        "calls/s": result["throughput"],
        "client CPU/10k": result["cpu_per_10k"],
        # warmup calls also reach the server: per call of the whole run is
        # approximated by the measured ones (the same in every setup)
        "server CPU/10k": 1e4 * server_cpu / max(ops, 1),
        # whole runs (warmup, setup) over measured calls: a slight overestimate
        "client writes/call": doc["writes"] / max(ops, 1) / len(remotes.split(",")),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="run", choices=["run", "serve", "client"])
    ap.add_argument("--backend", default="asyncio", choices=["asyncio", "uvloop", "trio"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time", type=float, default=2.0)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--calls", action="store_true",
                    help="count function calls per call (cProfile) instead of CPU")
    ap.add_argument("--go-like", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--remotes", default="", help=argparse.SUPPRESS)
    ap.add_argument("--calls-file", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mode == "serve":
        return _serve(args)
    if args.mode == "client":
        return _client(args)
    servers: dict[bool, subprocess.Popen[bytes]] = {}
    addrs: dict[bool, str] = {}
    tmp = tempfile.TemporaryDirectory()
    files = {go_like: [f"{tmp.name}/server-{int(go_like)}.calls"] for go_like in (False, True)}
    try:
        for go_like in (False, True):
            cmd = [sys.executable, __file__, "serve", "--nodes", str(args.nodes),
                   "--backend", args.backend] + (["--go-like"] if go_like else [])
            if args.calls:
                cmd += ["--calls-file", files[go_like][0]]
            proc, listening = spawn_listening(cmd, args.nodes, env=dict(os.environ))
            servers[go_like], addrs[go_like] = proc, ",".join(listening)
        runs: dict[str, list[dict[str, float]]] = {s: [] for s in SETUPS}
        for _ in range(args.rounds):
            for setup, go_server, go_client in (("plain", False, False),
                                                ("go-server", True, False),
                                                ("go-client", False, True)):
                runs[setup].append(_run_client(addrs[go_server], go_client, args,
                                               [servers[go_server]], files[go_server]))
    finally:
        for proc in servers.values():
            stop_process(proc)
        tmp.cleanup()
    keys = list(runs["plain"][0])
    med = {s: {k: statistics.median(r[k] for r in runs[s]) for k in keys} for s in SETUPS}
    print(f"# QuorumCall, {args.nodes} nodes, backend {args.backend}, "
          f"median of {args.rounds} interleaved rounds of {args.time:g} s")
    print(f"{'setup':<10}" + "".join(f"{k:>20}" for k in keys))
    for s in SETUPS:
        print(f"{s:<10}" + "".join(f"{med[s][k]:>20.3f}" for k in keys))
    plain = med["plain"]
    if args.calls:
        for side, setup, peer in (("client", "go-server", "server"),
                                  ("server", "go-client", "client")):
            print(f"{side} calls/call vs a Go-like {peer}: "
                  f"{med[setup][f'{side} calls/call'] / plain[f'{side} calls/call']:.3f}x")
        return 0
    print(f"client CPU/call vs a Go-like server: "
          f"{med['go-server']['client CPU/10k'] / plain['client CPU/10k']:.2f}x (goal <= 1.1x)")
    print(f"server CPU/call vs a Go-like client: "
          f"{med['go-client']['server CPU/10k'] / plain['server CPU/10k']:.2f}x (goal <= 1.1x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
