"""System: a server on a listener, plus the closers to shut down with it (Go's System)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Unpack

if TYPE_CHECKING:
    from gorums_h2.options import ConnectionOptions, ServerOptions

import anyio
import anyio.abc

from gorums_h2._groups import TaskGroup
from gorums_h2.configuration import Configuration
from gorums_h2.manager import Manager
from gorums_h2.nodelist import canonical_address, parse_listen_address, with_node_list
from gorums_h2.server import Server

__all__ = ["System", "local_systems"]

Closer = Any  # anything with close() or aclose(), sync or async (a Manager, a file, ...)


class System:
    """A :class:`Server` listening on ``address`` with registered services.

    ``async with System("127.0.0.1:0") as system:`` binds the listener and
    serves in the background; ``system.address`` is the bound ``host:port``.
    Leaving the block (or :meth:`stop`) stops the server at once and closes
    every registered closer, last registered first. Keyword arguments are the
    :class:`Server`'s options.
    """

    def __init__(self, address: str = "127.0.0.1:0",
                 **server_options: Unpack[ServerOptions]) -> None:
        self._host, self._port = parse_listen_address(address)
        self.server = Server(**server_options)
        self._closers: list[Closer] = []
        self._tg: anyio.abc.TaskGroup | None = None
        self._tg_cm: TaskGroup | None = None
        self.address = ""
        self._stopped = False
        self._manager: Manager | None = None
        self._outbound: Configuration | None = None

    async def with_config(self, my_id: int, nodes: Sequence[str],
                          **manager_options: Unpack[ConnectionOptions]) -> Configuration:
        """Make this system replica ``my_id`` of the symmetric system ``nodes``
        (Go master's ``WithConfig(myID, WithNodeList(nodes))``, ``stream`` wire).

        ``nodes`` are every replica's address, this one's included, in the
        same order on every replica (IDs are list positions 1, 2, 3 …; sort
        the addresses, as master's example does). The server then knows its
        peers (their streams join ``ServerCtx.config()``, with this replica
        itself, in process), and a manager with this server as its
        back-channel connects to the others; its configuration of all
        ``nodes`` is returned (also :attr:`outbound_config`), this replica's
        node dispatched in process. Call it inside ``async with``, from the
        task that entered it; the manager closes first on stop. ValueError if
        ``my_id`` is not a position of ``nodes``; RuntimeError if configured twice.
        """
        if self._tg is None:
            raise RuntimeError("with_config needs a running system (`async with System(...)`)")
        if self._manager is not None:
            raise RuntimeError("the system already has a configuration")
        if not 1 <= my_id <= len(nodes):
            raise ValueError(f"my_id {my_id} is not a node of the {len(nodes)} given")
        self.server.set_config(my_id, [i for i in range(1, len(nodes) + 1) if i != my_id])
        manager = Manager(wire="stream", server=self.server, **manager_options)
        await manager.__aenter__()
        self._manager = manager
        self._outbound = manager.new_configuration(with_node_list(nodes))
        return self._outbound

    @property
    def outbound_config(self) -> Configuration | None:
        """The configuration of :meth:`with_config` (Go's ``OutboundConfig``), or None."""
        return self._outbound

    async def _close_manager(self) -> None:
        manager, self._manager = self._manager, None
        if manager is not None:
            await manager.__aexit__(None, None, None)

    def register_service(self, closer: Closer | None,
                         register: Callable[[Server], None]) -> None:
        """Register handlers with ``register(server)``; close ``closer`` on stop.

        Raises TypeError (registering nothing) if ``closer`` has no
        ``close()`` or ``aclose()``.
        """
        if closer is not None and not (callable(getattr(closer, "aclose", None))
                                       or callable(getattr(closer, "close", None))):
            raise TypeError(f"{closer!r} has no close() or aclose()")
        register(self.server)
        if closer is not None:
            self._closers.append(closer)

    async def __aenter__(self) -> System:
        self._tg_cm = TaskGroup()  # exceptions leave the block unwrapped
        self._tg = await self._tg_cm.__aenter__()
        try:
            host, port = await self._tg.start(self.server.serve_tcp, self._host, self._port)
        except BaseException:
            self._tg.cancel_scope.cancel()
            await self._tg_cm.__aexit__(None, None, None)
            raise
        self.address = canonical_address(host, port)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> bool | None:
        assert self._tg_cm is not None
        try:
            await self.stop()
        except BaseException:
            await self._tg_cm.__aexit__(exc_type, exc, tb)
            raise
        return await self._tg_cm.__aexit__(exc_type, exc, tb)

    async def stop(self) -> None:
        """Stop the server at once and close the registered closers.

        Every closer is closed even if some fail; then the failure is raised
        (an ExceptionGroup if several failed).
        """
        if self._stopped:
            return
        self._stopped = True
        await self._close_manager()
        self.server.stop()
        errors: list[Exception] = []
        for closer in reversed(self._closers):
            try:
                await close_resource(closer)
            except Exception as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup("closing the system's closers failed", errors)

    async def graceful_stop(self, grace: float | None = None) -> None:
        """Stop gracefully (see :meth:`Server.graceful_stop`), then close the closers."""
        await self.server.graceful_stop(grace)
        await self.stop()


async def close_resource(closer: Closer) -> None:
    """Close ``closer`` with its ``aclose()`` or ``close()`` (sync or async);
    TypeError if it has neither."""
    close = getattr(closer, "aclose", None) or getattr(closer, "close", None)
    if close is None:
        raise TypeError(f"{closer!r} has no close() or aclose()")
    result = close()
    if inspect.isawaitable(result):
        await result


@asynccontextmanager
async def local_systems(
    n: int,
    register: Callable[[int, Server], None] | None = None,
    *,
    symmetric: bool = False,
    **server_options: Unpack[ServerOptions],
) -> AsyncIterator[Sequence[System]]:
    """Start ``n`` systems on free 127.0.0.1 ports; ``register(i, server)``
    registers the services of system ``i``. Stops them all on exit.

    With ``symmetric`` (Go master's ``NewLocalSystems``), every system gets
    :meth:`System.with_config` over all ``n`` addresses, sorted: system ``i``
    is replica ``i + 1`` only if its address sorts ``i``-th, so read the ID from
    ``system.server.my_id``.
    """
    async with _exit_stack() as stack:
        systems = []
        for i in range(n):
            system = await stack.enter_async_context(System("127.0.0.1:0", **server_options))
            if register is not None:
                register(i, system.server)
            systems.append(system)
        if symmetric:
            addresses = sorted(s.address for s in systems)

            async def close_managers() -> None:
                for system in reversed(systems):  # LIFO: the last entered first
                    await system._close_manager()

            stack.push_async_callback(close_managers)
            ids = range(1, n + 1)
            for system in systems:  # every server knows its peers before any connects
                my_id = addresses.index(system.address) + 1
                system.server.set_config(my_id, [i for i in ids if i != my_id])
            for system in systems:
                await system.with_config(addresses.index(system.address) + 1, addresses)
        yield systems


def _exit_stack() -> Any:
    from contextlib import AsyncExitStack

    return AsyncExitStack()
