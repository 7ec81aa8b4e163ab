"""Echo test servers in a process of their own: ``python -m gorums_h2.testing.serve``.

For fault tests that need a real process to stop (SIGSTOP), kill or start
inside a network namespace. The process serves one
:func:`~gorums_h2.testing.echo_server_fn` server per ``--addr HOST:PORT``
(port 0: a free port), prints ``LISTENING host:port`` for each, flushed, and
serves until SIGTERM/SIGINT, until its parent process exits, or at the
latest after ``--lifetime`` seconds, so it never outlives the test that
started it. :func:`spawn_echo_servers` starts one and waits for its lines.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence

import anyio

from gorums_h2.benchmark.procs import spawn_listening
from gorums_h2.benchmark.server import (
    BACKENDS,
    run_backend,
    until_orphaned,
    until_signal,
)
from gorums_h2.nodelist import canonical_address

__all__ = ["main", "spawn_echo_servers"]


def spawn_echo_servers(addresses: Sequence[str], *, backend: str = "asyncio",
                       lifetime: float = 300.0, prefix: Sequence[str] = (),
                       ) -> tuple[subprocess.Popen[bytes], list[str]]:
    """Start a process serving echo servers on ``addresses``; return it and
    the addresses it listens on. ``prefix`` runs it through another command
    (e.g. ``["ip", "netns", "exec", ns]``). Stop it with
    :func:`gorums_h2.benchmark.procs.stop_process`."""
    cmd = [*prefix, sys.executable, "-m", "gorums_h2.testing.serve",
           "--backend", backend, "--lifetime", str(lifetime)]
    for address in addresses:
        cmd += ["--addr", address]
    return spawn_listening(cmd, len(addresses))


async def _serve(addresses: list[tuple[str, int]], lifetime: float, parent: int) -> None:
    from gorums_h2.testing.services import echo_server_fn

    async with anyio.create_task_group() as tg:
        for i, (host, port) in enumerate(addresses):
            bound_host, bound_port = await tg.start(echo_server_fn(i).serve_tcp, host, port)
            print(f"LISTENING {canonical_address(bound_host, bound_port)}", flush=True)
        tg.start_soon(until_signal, tg.cancel_scope)
        tg.start_soon(until_orphaned, parent, tg.cancel_scope)
        await anyio.sleep(lifetime)
        tg.cancel_scope.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    import os

    ap = argparse.ArgumentParser(prog="python -m gorums_h2.testing.serve", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addr", action="append", required=True, metavar="HOST:PORT")
    ap.add_argument("--backend", choices=BACKENDS, default="asyncio")
    ap.add_argument("--lifetime", type=float, default=300.0,
                    help="exit after this many seconds at the latest")
    args = ap.parse_args(argv)
    addresses = []
    for text in args.addr:
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            ap.error(f"--addr must be HOST:PORT, got {text!r}")
        addresses.append((host.strip("[]"), int(port)))
    try:
        run_backend(_serve, addresses, args.lifetime, os.getppid(), backend=args.backend)
    except KeyboardInterrupt:
        pass
    except (OSError, RuntimeError) as exc:
        print(f"gorums_h2.testing.serve: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
