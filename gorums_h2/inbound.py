"""A server's inbound nodes: the clients and peers it can call back (Go master's
``InboundManager``, ``stream`` wire only).

A client whose NodeStream carries ``gorums-node-id: N`` offers to serve
calls from the server on that stream. When the stream opens, the server
classifies it (:meth:`InboundNodes.accept`, as master's ``AcceptPeer``):

* no header, or ``N > 0`` not among the server's ``peers`` → a plain client
  (not callable; every message on its stream is a request);
* ``N > 0`` among ``peers`` → peer ``N``, in ``ServerCtx.config()``; a new
  stream from ``N`` replaces the earlier one (whose calls then fail);
* ``0`` or not a decimal uint32 → an anonymous back-channel client with an
  ID from ``1 << 20`` upwards, in ``ServerCtx.client_config()``.

Each callable stream becomes a :class:`~gorums_h2.node.Node` whose channel
(:class:`InboundChannel`) writes into the response half of that stream; all of
a server's inbound nodes belong to one :class:`InboundManager`, whose message
IDs have bit 63 set, so the ordinary call functions (quorum calls,
multicast, RPC, unicast) work on them unchanged. When the stream ends, the
node leaves its configuration and every pending call to it fails with
:class:`~gorums_h2.wire.errors.ConnectionClosed` naming it; later calls to a
configuration that still holds it fail at once with the same error.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio.abc

from gorums_h2.channel import ChannelOptions, NodeChannel, SendQueueFull
from gorums_h2.codec import SERVER_CALL_BIT, Envelope, WireProtocol
from gorums_h2.configuration import Configuration
from gorums_h2.manager import Manager
from gorums_h2.node import Node
from gorums_h2.wire.errors import ConnectionClosed
from gorums_h2.wire.metadata import Metadata

if TYPE_CHECKING:
    from gorums_h2.server import Server
    from gorums_h2.wire.server_stream import ServerStream

__all__ = ["CLIENT_ID_START", "InboundChannel", "InboundManager", "InboundNodes"]

CLIENT_ID_START = 1 << 20
"""The first ID of an anonymous back-channel client (master's ``clientIDStart``)."""

_MAX_UINT32 = (1 << 32) - 1


def parse_node_id(value: str | None) -> int | None:
    """The ``gorums-node-id`` header as master reads it: None when absent,
    -1 when it is not a decimal uint32, else the number."""
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > _MAX_UINT32:
        return -1
    return int(value)


class InboundManager(Manager):
    """The manager of a server's inbound nodes (never entered with ``async with``).

    Message IDs are ``1 << 63 | n`` (master's server-initiated ID space), so
    they never collide with the IDs the client uses on the same stream.
    ``spawn`` (futures, correctables) runs in the server's serving task group
    (cancelled when the server stops).
    """

    def __init__(self, wire: WireProtocol, logger: logging.Logger,
                 task_groups: list[anyio.abc.TaskGroup]) -> None:
        super().__init__(wire=wire, logger=logger)
        self._serving = task_groups

    def spawn(self, fn: Callable[..., object], *args: object) -> None:
        for tg in reversed(self._serving):
            if not tg.cancel_scope.cancel_called:
                tg.start_soon(fn, *args)  # type: ignore[arg-type]
                return
        raise RuntimeError("the server is not serving")

    def next_seq(self) -> int:
        return SERVER_CALL_BIT | next(self._seq)

    @property
    def options(self) -> ChannelOptions:
        return self._options


class InboundChannel(NodeChannel):
    """A node channel over the response half of an inbound ServerStream.

    It never connects or reconnects: it is up from the stream's classification
    until :meth:`left`, then down for good.
    """

    def __init__(self, stream: ServerStream, options: ChannelOptions, kind: str,
                 node_id: int) -> None:
        host, port = _host_port(stream.peer)
        super().__init__(host, port, options)
        # ServerStream has the Stream API send() and the waits use
        self.stream = stream  # type: ignore[assignment]
        self._first_attempt_done = True
        self.kind = kind
        self.node_id = node_id

    def deliver(self, env: Envelope) -> None:
        """A reply to a server-initiated call; dropped when no call waits for it
        (master drops replies to unknown high-bit IDs)."""
        self._route(env)

    def left(self, why: str) -> None:
        """The stream ended: fail every pending call, refuse new ones."""
        if self._closing:
            return
        exc = ConnectionClosed(f"{self.kind} {self.node_id} ({self.address}) left: {why}")
        self._closing = True
        self.stream = None
        self.last_err = exc
        self.state_changed.set()
        self._fail_routes(exc)

    def unavailable(self) -> ConnectionClosed:
        err = self.last_err
        if isinstance(err, ConnectionClosed):
            return err
        return ConnectionClosed(f"{self.kind} {self.node_id} ({self.address}) is not connected")

    def _queue_full(self, stream: Any) -> SendQueueFull:
        unwritten = stream.queued - stream.written
        return SendQueueFull(
            f"{self.kind} {self.node_id} ({self.address}): send queue full:"
            f" {unwritten} bytes unwritten")


def _host_port(peer: Any) -> tuple[str, int]:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return str(peer), 0


class InboundNodes:
    """The callable inbound streams of one server (module doc)."""

    def __init__(self, server: Server, wire: WireProtocol, my_id: int, peers: Iterable[int],
                 logger: logging.Logger, task_groups: list[anyio.abc.TaskGroup]) -> None:
        self.server = server
        self.manager = InboundManager(wire, logger, task_groups)
        self.my_id = my_id
        self.peer_ids = frozenset(peers)
        self.local: Node | None = None  # this replica's node for itself, made on first use
        self.peers: dict[int, Node] = {}
        self.clients: dict[int, Node] = {}
        self._next_client = itertools.count(CLIENT_ID_START)

    def accept(self, stream: ServerStream, wire: WireProtocol, metadata: Metadata) -> Node | None:
        """Classify a new NodeStream; its node if the client can be called, else None."""
        header = wire.back_channel_header
        if header is None or wire is not self.manager.wire:
            return None
        value = metadata.get(header)
        node_id = parse_node_id(value if isinstance(value, str) else None)
        if node_id is None or (node_id > 0 and node_id not in self.peer_ids):
            return None
        if node_id > 0:
            old = self.peers.pop(node_id, None)
            if old is not None:
                _channel(old).left("replaced by a new NodeStream from the same peer")
            node = self._node(stream, "peer", node_id)
            self.peers[node_id] = node
        else:
            node = self._node(stream, "back-channel client", next(self._next_client))
            self.clients[node.id] = node
        return node

    def _node(self, stream: ServerStream, kind: str, node_id: int) -> Node:
        channel = InboundChannel(stream, self.manager.options, kind, node_id)
        node = Node(node_id, channel.host, channel.port, self.manager, channel)
        channel.node = node
        return node

    def remove(self, node: Node, why: str) -> None:
        """``node``'s stream ended: it leaves its configuration, its calls fail."""
        for table in (self.peers, self.clients):
            if table.get(node.id) is node:
                del table[node.id]
        _channel(node).left(why)

    def set_config(self, my_id: int, peers: Iterable[int]) -> None:
        """This replica's ID and its peers' (for streams opened from now on)."""
        self.my_id = my_id
        self.peer_ids = frozenset(peers) - {my_id}
        self.local = None

    def config(self) -> Configuration:
        """The connected known peers, and this replica itself (dispatched in
        process) when it has an ID (master's ``ServerCtx.Config()``)."""
        nodes = list(self.peers.values())
        if self.my_id > 0:
            if self.local is None:
                from gorums_h2.local import LocalChannel

                channel = LocalChannel(self.server, self.manager.options, "in-process", 0,
                                       self.manager.spawn)
                self.local = Node(self.my_id, "in-process", 0, self.manager, channel)
                channel.node = self.local
            nodes.append(self.local)
        return Configuration(nodes)

    def client_config(self) -> Configuration:
        """The connected anonymous back-channel clients (``ServerCtx.ClientConfig()``)."""
        return Configuration(self.clients.values())


def _channel(node: Node) -> InboundChannel:
    channel = node.channel
    assert isinstance(channel, InboundChannel)
    return channel
