"""pytest plugin of gorums_h2 (registered through the ``pytest11`` entry point).

Fixtures (async, for tests run by anyio's pytest plugin on any backend):

* ``gorums_servers`` — ``await gorums_servers(n, srv_fn=None)`` -> TestServers
* ``gorums_configuration`` — ``await gorums_configuration(n, srv_fn=None, **opts)``
  -> Configuration (IDs 0..n-1)
* ``gorums_node`` — ``await gorums_node(srv_fn=None, **opts)`` -> Node

Everything started through them is stopped at teardown, and the teardown
fails with :class:`~gorums_h2.testing.LeakError` if tasks, connections or
reply routes were left behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Unpack

import pytest

from gorums_h2.configuration import Configuration
from gorums_h2.node import Node
from gorums_h2.testing.setup import (
    NodeOptions,
    ServerFn,
    TestServers,
    test_configuration,
    test_node,
    test_servers,
)


@pytest.fixture
async def gorums_servers() -> AsyncIterator[Callable[..., Awaitable[TestServers]]]:
    """Factory: start test servers; all are stopped (and leak-checked) at teardown."""
    async with AsyncExitStack() as stack:

        async def start(n: int, srv_fn: ServerFn | None = None, *,
                        check_leaks: bool = True) -> TestServers:
            return await stack.enter_async_context(
                test_servers(n, srv_fn, check_leaks=check_leaks))

        yield start


@pytest.fixture
async def gorums_configuration() -> AsyncIterator[Callable[..., Awaitable[Configuration]]]:
    """Factory: servers plus a configuration over them (see ``test_configuration``)."""
    async with AsyncExitStack() as stack:

        async def start(n: int, srv_fn: ServerFn | None = None,
                        **options: Unpack[NodeOptions]) -> Configuration:
            return await stack.enter_async_context(test_configuration(n, srv_fn, **options))

        yield start


@pytest.fixture
async def gorums_node() -> AsyncIterator[Callable[..., Awaitable[Node]]]:
    """Factory: one server and its node (see ``test_node``)."""
    async with AsyncExitStack() as stack:

        async def start(srv_fn: ServerFn | None = None,
                        **options: Unpack[NodeOptions]) -> Node:
            return await stack.enter_async_context(test_node(srv_fn, **options))

        yield start
