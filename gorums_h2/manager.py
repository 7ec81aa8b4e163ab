"""Manager: owns the nodes and their channels (Go's Manager).

An async context manager: ``async with Manager(...) as mgr:`` starts a task
group in which every node's channel connects and reconnects; leaving the
block (or :meth:`Manager.close`) closes every connection, fails what is
pending with ConnectionClosed, and waits for the channel tasks to end. An
exception raised in the block leaves it as raised (not wrapped in an
ExceptionGroup), so ``except IncompleteError:`` around the block works.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import random
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Unpack

if TYPE_CHECKING:
    from gorums_h2.options import ManagerOptions

import anyio
import anyio.abc

from gorums_h2._groups import TaskGroup
from gorums_h2.backoff import Backoff
from gorums_h2.channel import ChannelOptions, NodeChannel
from gorums_h2.codec import WireLike, WireProtocol, get_wire
from gorums_h2.configuration import Configuration
from gorums_h2.node import Node
from gorums_h2.nodelist import NodeListOption
from gorums_h2.routes import BackChannel
from gorums_h2.wire.errors import ConnectionClosed
from gorums_h2.wire.metadata import Metadata, MetadataLike
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.tls import check_alpn_h2

__all__ = ["Manager", "new_config"]


class Manager:
    """The connection pool of a client (keyword options mirror Go's ManagerOptions).

    * ``ssl_context`` / ``server_hostname`` / ``wire_settings`` — Go's dial
      options: TLS (the context must offer ALPN ``h2``, ValueError
      otherwise; it is not changed), timeouts, dead-peer detection
      (on by default), TCP keepalive, windows, message size limits
      (:class:`~gorums_h2.wire.WireSettings`; see docs/client.md, "Faults and
      timeouts");
    * ``backoff`` — reconnection backoff (gRPC defaults: 1 s, x1.6, ±20 %, 120 s);
    * ``logger`` — where connection errors are logged (Go's WithLogger);
    * ``metadata`` — sent as headers of every node's stream (WithMetadata);
    * ``per_node_metadata`` — ``f(node_id)`` adds headers per node (WithPerNodeMetadata);
    * ``send_buffer_size`` — a count of *messages* (not bytes; Go's
      ``WithSendBufferSize``) that may wait unwritten per node:
      beyond it RPCs and unicasts wait (bounded by the call), quorum calls
      and multicasts wait at most ``STALLED_AFTER`` (0.25 s) for a draining
      queue (0: no message limit). The queue is *full* beyond
      ``wire_settings.send_buffer_bytes`` (a count of *bytes*): quorum calls
      and multicasts then fail that node's part at once with
      :class:`~gorums_h2.channel.SendQueueFull`;
    * ``wire`` — the NodeStream wire of the servers: ``"ordering"`` (Go
      Gorums v0.11, the default) or ``"stream"`` (Go Gorums master); it also
      selects how ``with_node_list`` numbers nodes (docs/interop.md).
      ValueError for another name;
    * ``server`` — back-channel handlers (Go master's ``WithServer``): a
      :class:`~gorums_h2.server.Server` whose registered handlers (generated
      ``register_*_server`` functions work as usual) serve the requests the
      servers send back over this manager's streams. Every stream then
      carries ``gorums-node-id: <server.my_id>`` (0 unless the server was
      given ``my_id``), which makes the node treat this client as a peer or
      an anonymous back-channel client. Each server-initiated request runs
      in its own task, concurrently with the others and without the
      per-stream ordering of ordinary requests (as master); it is cancelled
      when its stream ends. Only on the ``stream`` wire (ValueError on
      ``ordering``: v0.11 has no back-channel).
    * ``compression`` — ``"gzip"`` compresses every request (gRPC's
      ``grpc-encoding``; sets ``wire_settings.compression``); compressed
      replies are decoded either way (Go's ``grpc.UseCompressor``);
    * ``rng`` — the source of reconnection jitter (default: seeded from the
      OS); pass a seeded ``random.Random`` for reproducible runs.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        wire_settings: WireSettings | None = None,
        backoff: Backoff | None = None,
        logger: logging.Logger | None = None,
        metadata: MetadataLike | None = None,
        per_node_metadata: Callable[[int], MetadataLike | None] | None = None,
        send_buffer_size: int = 0,
        compression: str | None = None,
        wire: WireLike = "ordering",
        server: BackChannel | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if send_buffer_size < 0:
            raise ValueError("send_buffer_size must not be negative")
        if ssl_context is not None:
            check_alpn_h2(ssl_context, server_side=False)
        self.wire: WireProtocol = get_wire(wire)
        if server is not None and self.wire.back_channel_header is None:
            raise ValueError(f"the {self.wire.name!r} wire has no back-channel: "
                             "Manager(server=...) needs wire='stream'")
        self.server = server
        self.send_buffer_size = send_buffer_size  # (calls skip the wait for room when 0)
        wire_settings = wire_settings or WireSettings()
        if compression is not None:
            wire_settings = dataclasses.replace(wire_settings, compression=compression)
        md = Metadata(metadata) if metadata is not None else Metadata()
        md.validate_for_send()
        self.logger = logger or logging.getLogger("gorums_h2.manager")
        self._options = ChannelOptions(
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            wire_settings=wire_settings,
            backoff=backoff or Backoff(),
            metadata=md,
            per_node_metadata=per_node_metadata,
            send_buffer_size=send_buffer_size,
            logger=self.logger,
            wire=self.wire,
            back_channel=server,
            node_id_header=None if server is None else str(getattr(server, "my_id", 0)),
            rng=rng or random.Random(),  # seeded from the OS unless given
        )
        self._nodes: dict[int, Node] = {}
        self._by_address: dict[tuple[str, int], Node] = {}
        self._seq = itertools.count(1)
        self._tg: anyio.abc.TaskGroup | None = None
        self._tg_cm: TaskGroup | None = None
        self._closed = False

    # ---- lifecycle ----

    async def __aenter__(self) -> Manager:
        if self._tg_cm is not None:
            raise RuntimeError("a Manager can be entered only once")
        self._tg_cm = TaskGroup()  # exceptions leave the block unwrapped
        self._tg = await self._tg_cm.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self.close()
        assert self._tg_cm is not None and self._tg is not None
        self._tg.cancel_scope.cancel()  # futures and correctables still running
        return await self._tg_cm.__aexit__(exc_type, exc, tb)

    def close(self) -> None:
        """Close every node's connection (pending calls fail with ConnectionClosed).

        The channel tasks end when the ``async with`` block is left.
        """
        if self._closed:
            return
        self._closed = True
        for node in self._nodes.values():
            node.channel.stop()

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        """Raise :class:`~gorums_h2.wire.errors.ConnectionClosed` if the manager
        is closed: a call made after that fails at once, saying so."""
        if self._closed:
            raise ConnectionClosed("the manager is closed: calls need an open Manager "
                                   "(inside `async with Manager() as mgr`)")

    def next_seq(self) -> int:
        """The next message sequence number (shared by all nodes, as in Go)."""
        return next(self._seq)

    def spawn(self, fn: Callable[..., object], *args: object) -> None:
        """Run ``fn(*args)`` as a task of the manager (futures, correctables)."""
        if self._tg is None or self._closed:
            raise RuntimeError("the Manager is not running: use `async with Manager() as mgr`")
        self._tg.start_soon(fn, *args)  # type: ignore[arg-type]

    # ---- nodes and configurations ----

    def new_configuration(self, nodes: NodeListOption) -> Configuration:
        """A configuration of the nodes ``nodes`` names; new nodes start connecting.

        Raises ValueError for bad or conflicting addresses/IDs, KeyError for
        unknown IDs, RuntimeError outside ``async with``.
        """
        if self._tg is None or self._closed:
            raise RuntimeError("the Manager is not running: use `async with Manager() as mgr`")
        return Configuration(nodes.nodes(self))

    def add_node(self, node_id: int, host: str, port: int) -> Node:
        """Return the node for (id, address), creating and connecting it if new.

        The seam node lists build configurations through
        (:class:`~gorums_h2.nodelist.NodeListOption`); ``host`` is a resolved
        IP. Raises ValueError if the ID or the address already belongs to
        another node.
        """
        existing = self._nodes.get(node_id)
        at_address = self._by_address.get((host, port))
        if existing is not None:
            if (existing.host, existing.port) != (host, port):
                raise ValueError(
                    f"node ID {node_id} is already used for {existing.address}, "
                    f"not {host}:{port}")
            return existing
        if at_address is not None:
            raise ValueError(
                f"{at_address.address} already has node ID {at_address.id}, not {node_id}")
        server = self.server
        channel: NodeChannel
        if server is not None and node_id and getattr(server, "my_id", 0) == node_id:
            # this replica's own node: its server, in process (no connection)
            from gorums_h2.local import LocalChannel

            assert self._tg is not None
            channel = LocalChannel(server, self._options, host, port,  # type: ignore[arg-type]
                                   self._tg.start_soon)
        else:
            channel = NodeChannel(host, port, self._options)
        node = Node(node_id, host, port, self, channel)
        channel.node = node
        self._nodes[node_id] = node
        self._by_address[(host, port)] = node
        assert self._tg is not None
        self._tg.start_soon(channel.run, name=f"gorums node {node.address}")
        return node

    def node_at(self, host: str, port: int) -> Node | None:
        """The node at a resolved ``host:port``, or None if the manager has none there."""
        return self._by_address.get((host, port))

    def node_ids(self) -> list[int]:
        """IDs of all nodes, in the order they were added."""
        return list(self._nodes)

    def node(self, node_id: int) -> Node | None:
        return self._nodes.get(node_id)

    def nodes(self) -> list[Node]:
        """All nodes, in the order they were added."""
        return list(self._nodes.values())

    def size(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        return f"Manager(nodes={self.node_ids()}, wire={self.wire.name!r})"


@asynccontextmanager
async def new_config(nodes: NodeListOption,
                     **manager_options: Unpack[ManagerOptions]) -> AsyncIterator[Configuration]:
    """A new :class:`Manager` and a configuration of ``nodes`` (Go's ``NewConfig``).

    ``async with new_config(with_node_list(addrs)) as cfg:`` — the manager is
    ``cfg.manager`` and is closed when the block ends. Host names are looked
    up off the event loop (:meth:`NodeListOption.resolved`). ``wire="stream"`` (one of the manager
    options) talks to Go Gorums master's servers.
    """
    nodes = await nodes.resolved()
    async with Manager(**manager_options) as manager:
        yield manager.new_configuration(nodes)
