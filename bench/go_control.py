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
over measured calls, so slightly high); the goal ratios of the medians, and
of each round.

``--together``: per round the three clients run at the same time, each
against server processes of its own. On a machine whose load swings, CPU per
call follows the rate (an idle process pays a wake-up per message), so
setups measured one after another differ by the moment's load; at the same
time, they share it.

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


class _ClientRun:
    """One client process of a setup, with the CPU (or call counts) of its
    servers around it."""

    def __init__(self, remotes: str, go_like: bool, args: argparse.Namespace,
                 server: subprocess.Popen[bytes], calls_file: str) -> None:
        self.remotes, self.args, self.server, self.calls_file = remotes, args, server, calls_file
        self.cpu0 = process_cpu_seconds(server.pid) or 0.0
        cmd = [sys.executable, __file__, "client", "--remotes", remotes,
               "--time", str(args.time), "--backend", args.backend]
        if go_like:
            cmd.append("--go-like")
        self.tmp = tempfile.TemporaryDirectory()
        if args.calls:
            _server_calls(server, calls_file)  # starts counting
            cmd += ["--calls-file", f"{self.tmp.name}/client.pstats"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)

    def result(self) -> dict[str, float]:
        try:
            out, _ = self.proc.communicate(timeout=120)
        finally:
            self.tmp.cleanup()
        doc = json.loads(out)
        result = doc["results"][0]
        ops = max(result["total_ops"], 1)
        if self.args.calls:
            return {"client calls/call": doc["calls"] / ops,
                    "server calls/call": _server_calls(self.server, self.calls_file) / ops}
        server_cpu = (process_cpu_seconds(self.server.pid) or 0.0) - self.cpu0
        return {
            "calls/s": result["throughput"],
            "client CPU/10k": result["cpu_per_10k"],
            # warmup calls also reach the server: per call of the whole run is
            # approximated by the measured ones (the same in every setup)
            "server CPU/10k": 1e4 * server_cpu / ops,
            # whole runs (warmup, setup) over measured calls: a slight overestimate
            "client writes/call": doc["writes"] / ops / len(self.remotes.split(",")),
        }


# setup: (Go-like server, Go-like client)
_SHAPES = {"plain": (False, False), "go-server": (True, False), "go-client": (False, True)}


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
    ap.add_argument("--together", action="store_true",
                    help="run the three setups' clients at the same time, each against "
                         "servers of its own (the machine's load then hits all alike)")
    ap.add_argument("--go-like", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--remotes", default="", help=argparse.SUPPRESS)
    ap.add_argument("--calls-file", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mode == "serve":
        return _serve(args)
    if args.mode == "client":
        return _client(args)
    # the server process of each setup: apart with --together, else plain
    # and go-client share one
    owner = {s: s if args.together or s != "go-client" else "plain" for s in SETUPS}
    servers: dict[str, subprocess.Popen[bytes]] = {}
    addrs: dict[str, str] = {}
    tmp = tempfile.TemporaryDirectory()
    files = {s: f"{tmp.name}/server-{s}.calls" for s in SETUPS}
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SETUPS}
    try:
        for setup in dict.fromkeys(owner.values()):
            cmd = [sys.executable, __file__, "serve", "--nodes", str(args.nodes),
                   "--backend", args.backend]
            if _SHAPES[setup][0]:
                cmd.append("--go-like")
            if args.calls:
                cmd += ["--calls-file", files[setup]]
            proc, listening = spawn_listening(cmd, args.nodes, env=dict(os.environ))
            servers[setup], addrs[setup] = proc, ",".join(listening)

        def start(setup: str) -> _ClientRun:
            home = owner[setup]
            return _ClientRun(addrs[home], _SHAPES[setup][1], args, servers[home], files[home])

        for _ in range(args.rounds):
            if args.together:
                started = {s: start(s) for s in SETUPS}
                for s in SETUPS:
                    runs[s].append(started[s].result())
            else:
                for s in SETUPS:
                    runs[s].append(start(s).result())
    finally:
        for proc in servers.values():
            stop_process(proc)
        tmp.cleanup()
    keys = list(runs["plain"][0])
    med = {s: {k: statistics.median(r[k] for r in runs[s]) for k in keys} for s in SETUPS}
    how = "rounds of the three at once" if args.together else "interleaved rounds"
    print(f"# QuorumCall, {args.nodes} nodes, backend {args.backend}, "
          f"median of {args.rounds} {how} of {args.time:g} s")
    print(f"{'setup':<10}" + "".join(f"{k:>20}" for k in keys))
    for s in SETUPS:
        print(f"{s:<10}" + "".join(f"{med[s][k]:>20.3f}" for k in keys))
    unit = "calls/call" if args.calls else "CPU/10k"
    goal = "" if args.calls else " (goal <= 1.1x)"
    for side, setup, peer in (("client", "go-server", "server"),
                              ("server", "go-client", "client")):
        key = f"{side} {unit}"
        per_round = [r[key] / p[key] for r, p in zip(runs[setup], runs["plain"], strict=True)]
        print(f"{side} {unit} vs a Go-like {peer}: {med[setup][key] / med['plain'][key]:.2f}x"
              f"{goal}; per round {', '.join(f'{x:.2f}' for x in per_round)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
