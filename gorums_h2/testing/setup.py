"""Start servers and configurations for tests (Go's TestServers, TestConfiguration, TestNode).

Each helper is an async context manager that starts real servers on free
127.0.0.1 ports in the current event loop (asyncio or trio) and stops
everything on exit, manager first, then servers, then checks for leaks::

    async with test_configuration(3) as cfg:
        reply = await quorum_call(cfg.context(), Echo(value="x"), ECHO_QC, Echo).majority()
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Unpack

import anyio
import anyio.abc

from gorums_h2._groups import TaskGroup
from gorums_h2.configuration import Configuration
from gorums_h2.errors import IncompleteError, QuorumCallError
from gorums_h2.manager import Manager
from gorums_h2.node import Node
from gorums_h2.nodelist import NodeListOption, with_node_map
from gorums_h2.options import ManagerOptions
from gorums_h2.server import Server
from gorums_h2.testing.leaks import assert_no_leaks, task_baseline
from gorums_h2.testing.services import echo_server_fn

__all__ = [
    "StopFunc",
    "TestServers",
    "closer",
    "quorum_call_error",
    "test_configuration",
    "test_context",
    "test_node",
    "test_servers",
]

ServerFn = Callable[[int], Server]
PreConnect = Callable[[Callable[..., None]], Awaitable[None] | None]


class TestServers:
    """Running test servers: ``addresses[i]`` is server ``i``'s ``host:port``."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.servers: list[Server] = []
        self.addresses: list[str] = []
        self.stopped: set[int] = set()
        self._done: list[anyio.Event] = []  # set when server i no longer listens

    def stop(self, *indices: int) -> None:
        """Stop the given servers at once (all when none given)."""
        for i in indices or range(len(self.servers)):
            if i not in self.stopped:
                self.stopped.add(i)
                self.servers[i].stop()

    async def wait_stopped(self, *indices: int) -> None:
        """Wait until the given (default: all stopped) servers closed their listeners."""
        for i in indices or sorted(self.stopped):
            await self._done[i].wait()


class StopFunc:
    """Receives the stop function of test servers (Go's ``WithStopFunc``).

    Pass one to :func:`test_configuration`/:func:`test_node`, then call it:
    ``stop()`` stops every server, ``stop(0, 2)`` servers 0 and 2.
    """

    def __init__(self) -> None:
        self._servers: TestServers | None = None

    def __call__(self, *indices: int) -> None:
        if self._servers is None:
            raise RuntimeError("StopFunc is not bound to running test servers yet")
        self._servers.stop(*indices)


@asynccontextmanager
async def test_servers(
    n: int,
    srv_fn: ServerFn | None = None,
    *,
    check_leaks: bool = True,
) -> AsyncIterator[TestServers]:
    """Start ``n`` servers made by ``srv_fn(i)`` (default: echo servers)."""
    baseline = task_baseline()
    servers = TestServers()
    make = srv_fn or echo_server_fn
    async with TaskGroup() as tg:  # exceptions leave the block unwrapped
        for i in range(n):
            server = make(i)
            done = anyio.Event()
            host, port = await tg.start(_serve, server, done)
            servers.servers.append(server)
            servers.addresses.append(f"{host}:{port}")
            servers._done.append(done)
        try:
            yield servers
        finally:
            servers.stop()
    if check_leaks:
        await assert_no_leaks(baseline, servers=servers.servers)


test_servers.__test__ = False  # type: ignore[attr-defined]


async def _serve(server: Server, done: anyio.Event, *,
                 task_status: anyio.abc.TaskStatus[tuple[str, int]]) -> None:
    try:
        await server.serve_tcp("127.0.0.1", 0, task_status=task_status)
    finally:
        done.set()


class NodeOptions(ManagerOptions, total=False):
    """The keyword options of :func:`test_node`: :func:`test_configuration`'s."""

    nodes: NodeListOption | None
    manager: Manager | None
    stop_func: StopFunc | None
    pre_connect: PreConnect | None
    check_leaks: bool


@asynccontextmanager
async def test_configuration(
    n: int,
    srv_fn: ServerFn | None = None,
    *,
    nodes: NodeListOption | None = None,
    manager: Manager | None = None,
    stop_func: StopFunc | None = None,
    pre_connect: PreConnect | None = None,
    check_leaks: bool = True,
    **manager_options: Unpack[ManagerOptions],
) -> AsyncIterator[Configuration]:
    """Start ``n`` servers and yield a configuration over them.

    Nodes get IDs 0..n-1 in server order unless ``nodes`` says otherwise.
    ``manager`` reuses an existing manager (the caller closes it, Go's
    ``WithManager``); otherwise one is made with ``manager_options``.
    ``pre_connect(stop)`` runs after the servers start and before the nodes
    connect (Go's ``WithPreConnect``).
    """
    baseline = task_baseline()
    async with test_servers(n, srv_fn, check_leaks=False) as servers:
        if stop_func is not None:
            stop_func._servers = servers
        if pre_connect is not None:
            result = pre_connect(servers.stop)
            if inspect.isawaitable(result):
                await result
            await servers.wait_stopped()  # stopped servers refuse the nodes' first connect
        node_list = nodes or with_node_map({a: i for i, a in enumerate(servers.addresses)})
        if manager is not None:
            yield manager.new_configuration(node_list)
            managers = [manager]
        else:
            async with Manager(**manager_options) as own:
                yield own.new_configuration(node_list)
            managers = [own]
    if check_leaks:
        # a caller's manager (still open) keeps its nodes' tasks: count tasks
        # only when the manager was ours
        await assert_no_leaks(baseline if manager is None else task_baseline(),
                              managers=managers if manager is None else [],
                              servers=servers.servers)


test_configuration.__test__ = False  # type: ignore[attr-defined]


@asynccontextmanager
async def test_node(
    srv_fn: ServerFn | None = None,
    **options: Unpack[NodeOptions],
) -> AsyncIterator[Node]:
    """One server and its node (Go's ``TestNode``); options as :func:`test_configuration`."""
    async with test_configuration(1, srv_fn, **options) as cfg:
        yield cfg.nodes()[0]


test_node.__test__ = False  # type: ignore[attr-defined]


def quorum_call_error(node_errors: Mapping[int, BaseException],
                      cause: type[QuorumCallError] = IncompleteError) -> QuorumCallError:
    """A QuorumCallError for tests (Go's ``TestQuorumCallError``)."""
    return cause(node_errors)


def test_context(timeout: float) -> Any:
    """A deadline for a test body (Go's ``TestContext``): ``with test_context(5):``.

    It is :func:`anyio.fail_after`: TimeoutError when the time is up.
    """
    return anyio.fail_after(timeout)


test_context.__test__ = False  # type: ignore[attr-defined]


def closer(resource: Any) -> Callable[[], Awaitable[None]]:
    """An async function that closes ``resource`` (Go's ``Closer``): works for
    anything with ``close()`` or ``aclose()``, sync or async."""
    from gorums_h2.system import close_resource

    async def close() -> None:
        await close_resource(resource)

    return close
