"""Leak checks for tests: tasks, connections and reply routes left behind."""

from __future__ import annotations

from collections.abc import Iterable

import anyio

from gorums_h2.manager import Manager
from gorums_h2.server import Server

__all__ = ["LeakError", "assert_no_leaks", "pending_routes", "task_count"]


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
