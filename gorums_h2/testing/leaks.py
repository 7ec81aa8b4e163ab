"""Leak checks for tests: tasks, connections, reply routes and file descriptors left behind.

Take a :func:`task_baseline` before the checked block and pass it to
:func:`assert_no_leaks` after it: only tasks the block created count (not
tasks that were already running, nor tasks that those start meanwhile, such
as a server started before the block accepting a connection), and each
leaked task is named — its name, its coroutine function and where that is
defined, where it is waiting now, and the task that started it (with
asyncio's debug mode, also the line that created it).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from types import CoroutineType
from typing import Any

import anyio
from anyio import TaskInfo

from gorums_h2.manager import Manager
from gorums_h2.server import Server

__all__ = [
    "LeakError",
    "TaskBaseline",
    "assert_no_fd_leak",
    "assert_no_leaks",
    "describe_task",
    "leaked_tasks",
    "open_fds",
    "pending_routes",
    "task_baseline",
    "task_count",
]

_MAX_DEPTH = 1000  # bound on ancestor and await chains


class LeakError(AssertionError):
    """Something outlived the test that created it."""


class TaskBaseline:
    """The tasks running when a checked block starts (see :func:`task_baseline`)."""

    __slots__ = ("_coros", "checker", "count", "ids")

    def __init__(self, tasks: Iterable[TaskInfo], checker: int) -> None:
        tasks = list(tasks)
        # the coroutines are kept referenced, so that no task created later
        # can have the identity of one of these (ids of ended tasks are reused)
        self._coros = [t.coro for t in tasks]
        self.ids = {t.id: id(t.coro) for t in tasks}
        self.count = len(tasks)
        self.checker = checker  # the task that took the baseline

    def __contains__(self, task: TaskInfo) -> bool:
        return self.ids.get(task.id) == id(task.coro)


def task_count() -> int:
    """The number of tasks running now (prefer :func:`task_baseline`)."""
    return len(anyio.get_running_tasks())


def task_baseline() -> TaskBaseline:
    """The tasks running now, taken by the current task before a checked block."""
    return TaskBaseline(anyio.get_running_tasks(), anyio.get_current_task().id)


def leaked_tasks(baseline: TaskBaseline) -> list[TaskInfo]:
    """Tasks running now that the checked block created: not in ``baseline``,
    and not descended from a task of the baseline other than the checker (or
    its ancestors) — those belong to something started before the block."""
    tasks = anyio.get_running_tasks()
    by_id = {t.id: t for t in tasks}
    # the checking task and its ancestors are not leaks (pytest's anyio runner
    # may check in a task other than the one that took the baseline)
    mine: set[int] = set()
    task_id: int | None = anyio.get_current_task().id
    for _ in range(_MAX_DEPTH):
        if task_id is None or task_id in mine:
            break
        mine.add(task_id)
        current = by_id.get(task_id)
        task_id = current.parent_id if current is not None else None
    return [t for t in tasks
            if t.id not in mine and t not in baseline and not _test_runner(t)
            and _from_block(t, by_id, baseline)]


def _test_runner(task: TaskInfo) -> bool:
    """anyio's pytest runner: on asyncio it starts a task per fixture or test
    call, which waits for the runner task (the one checking) to finish it."""
    code = getattr(task.coro, "cr_code", None)
    return code is not None and "/anyio/" in code.co_filename and (
        code.co_qualname.startswith("TestRunner."))


def _from_block(task: TaskInfo, by_id: dict[int, TaskInfo], baseline: TaskBaseline) -> bool:
    parent_id = task.parent_id
    for _ in range(_MAX_DEPTH):
        if parent_id is None or parent_id == baseline.checker:
            return True
        parent = by_id.get(parent_id)
        if parent is None:
            return True  # its parent ended: a task of the block that is gone
        if parent in baseline:
            return False  # started by something already running before the block
        parent_id = parent.parent_id
    return True


def describe_task(task: TaskInfo, tasks: dict[int, TaskInfo] | None = None) -> str:
    """One line naming ``task``: name, coroutine, where it waits, who started it."""
    parts = [repr(task.name)]
    frames = _frames(task.coro)
    # skip the event loop's and anyio's own wrappers (anyio runs a task's
    # coroutine inside a handle of its own)
    own = [f for f in frames if not _is_library(f.f_code.co_filename)] or frames
    if own:
        code = own[0].f_code
        parts.append(f"running {code.co_qualname} "
                     f"({_where(code.co_filename, code.co_firstlineno)})")
        inner = own[-1]
        parts.append(f"waiting at {_where(inner.f_code.co_filename, inner.f_lineno)}"
                     f" in {inner.f_code.co_qualname}")
    if task.parent_id is not None:
        parent = (tasks or {}).get(task.parent_id)
        parts.append(f"started by task {parent.name!r}" if parent is not None
                     else "started by a task that has ended")
    created = _creation_site(task)
    if created:
        parts.append(f"created at {created}")
    return ", ".join(parts)


_LIBRARIES = ("/anyio/", "/trio/", "/asyncio/", "/outcome/")


def _is_library(filename: str) -> bool:
    return any(lib in filename for lib in _LIBRARIES)


def _where(filename: str, line: int | None) -> str:
    for marker in ("/site-packages/", "/gorums_h2/", "/tests/"):
        cut = filename.rfind(marker)
        if cut >= 0:
            filename = (filename[cut + len(marker):] if marker == "/site-packages/"
                        else filename[cut + 1:])
            break
    return f"{filename}:{line}"


def _frames(coro: Any) -> list[Any]:
    """The frames of a suspended coroutine and of what it awaits, outermost first."""
    frames: list[Any] = []
    for _ in range(_MAX_DEPTH):
        if isinstance(coro, CoroutineType):
            frame, awaited = coro.cr_frame, coro.cr_await
            if (awaited is None and frame is not None
                    and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED):
                # not started yet: anyio's task handle holds the task's coroutine
                awaited = getattr(frame.f_locals.get("self"), "_coro", None)
            coro = awaited
        else:
            frame, coro = getattr(coro, "gi_frame", None), getattr(coro, "gi_yieldfrom", None)
        if frame is not None:
            frames.append(frame)
        if coro is None:
            break
    return frames


def _creation_site(task: TaskInfo) -> str:
    """Where an asyncio task was created (only recorded in asyncio's debug mode)."""
    try:
        import asyncio

        for t in asyncio.all_tasks():
            if id(t) == task.id:
                trace = getattr(t, "_source_traceback", None)
                if trace:
                    frame = trace[-1]
                    return _where(frame.filename, frame.lineno)
    except RuntimeError:
        pass  # not on asyncio
    return ""


def pending_routes(managers: Iterable[Manager]) -> int:
    """Reply routes still registered on the managers' node channels."""
    return sum(len(node.channel.routes) for m in managers for node in m.nodes())


async def assert_no_leaks(
    baseline: TaskBaseline | int,
    managers: Iterable[Manager] = (),
    servers: Iterable[Server] = (),
    settle: float = 2.0,
) -> None:
    """Wait up to ``settle`` seconds for tasks, connections and routes to go
    away; raise :class:`LeakError` naming what is left.

    ``baseline`` is a :func:`task_baseline` (leaked tasks are those the block
    created, each named) or, as before, a :func:`task_count` (tasks are only
    counted, against every task of the process).
    """
    managers = list(managers)
    servers = list(servers)
    problems: list[str] = []
    with anyio.move_on_after(settle):
        while True:
            problems = []
            if isinstance(baseline, TaskBaseline):
                leaked = leaked_tasks(baseline)
                if leaked:
                    by_id = {t.id: t for t in anyio.get_running_tasks()}
                    named = "".join(f"\n  - {describe_task(t, by_id)}" for t in leaked)
                    problems.append(f"{len(leaked)} task(s) still running:{named}")
            else:
                extra = task_count() - baseline
                if extra > 0:
                    problems.append(f"{extra} task(s) still running")
            routes = pending_routes(managers)
            if routes:
                problems.append(f"{routes} reply route(s) still registered")
            conns = sum(len(s.wire.connections) for s in servers)
            if conns:
                problems.append(f"{conns} server connection(s) still open")
            open_nodes = [n.address for m in managers for n in m.nodes()
                          if n.channel.conn is not None]
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
