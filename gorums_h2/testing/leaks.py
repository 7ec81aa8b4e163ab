"""Leak checks for tests: tasks, connections, reply routes and file descriptors left behind."""

from __future__ import annotations

import os
from collections.abc import Iterable

import anyio

from gorums_h2.manager import Manager
from gorums_h2.server import Server

__all__ = ["LeakError", "assert_no_fd_leak", "assert_no_leaks", "open_fds", "pending_routes",
           "task_count"]


class LeakError(AssertionError):
    """Something outlived the test that created it."""


def task_count() -> int:
    return len(anyio.get_running_tasks())


def pending_routes(managers: Iterable[Manager]) -> int:
    """Reply routes still registered on the managers' node channels."""
    return sum(len(node._channel.routes) for m in managers for node in m.nodes())


async def assert_no_leaks(
    baseline_tasks: int,
    managers: Iterable[Manager] = (),
    servers: Iterable[Server] = (),
    settle: float = 2.0,
) -> None:
    """Wait up to ``settle`` seconds for tasks, connections and routes to go
    away; raise :class:`LeakError` naming what is left."""
    managers = list(managers)
    servers = list(servers)
    problems: list[str] = []
    with anyio.move_on_after(settle):
        while True:
            problems = []
            extra = task_count() - baseline_tasks
            if extra > 0:
                problems.append(f"{extra} task(s) still running")
            routes = pending_routes(managers)
            if routes:
                problems.append(f"{routes} reply route(s) still registered")
            conns = sum(len(s.wire.connections) for s in servers)
            if conns:
                problems.append(f"{conns} server connection(s) still open")
            open_nodes = [n.address for m in managers for n in m.nodes()
                          if n._channel.conn is not None]
            if open_nodes:
                problems.append(f"node connection(s) still open: {open_nodes}")
            if not problems:
                return
            await anyio.sleep(0.02)
    raise LeakError("; ".join(problems))


def open_fds() -> int | None:
    """File descriptors this process has open (None where ``/proc`` or
    ``/dev/fd`` is unavailable)."""
    for path in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(path)) - 1  # listdir's own descriptor
        except OSError:
            continue
    return None


async def assert_no_fd_leak(baseline: int | None, settle: float = 2.0) -> None:
    """Wait up to ``settle`` seconds for the open file descriptors to drop to
    ``baseline`` (from :func:`open_fds`); raise :class:`LeakError` otherwise."""
    if baseline is None:
        return
    now = open_fds()
    with anyio.move_on_after(settle):
        while now is not None and now > baseline:
            await anyio.sleep(0.02)
            now = open_fds()
    if now is not None and now > baseline:
        raise LeakError(f"{now - baseline} file descriptor(s) still open")
