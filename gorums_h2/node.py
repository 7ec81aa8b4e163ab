"""Node: one server of a configuration, and the sort keys over nodes."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gorums_h2.channel import NodeChannel
    from gorums_h2.context import NodeContext
    from gorums_h2.manager import Manager
    from gorums_h2.wire.metadata import MetadataLike

__all__ = [
    "Node",
    "by_id",
    "by_last_error",
    "by_port",
    "ordered_by",
]


class Node:
    """A server that calls can be sent to; owned by a :class:`Manager`.

    ``id`` is stable for an address (``with_node_list``: FNV-1a 32 of
    ``ip:port`` on the ``ordering`` wire, list position on the ``stream``
    wire; or chosen with ``with_node_map``); ``latency`` is a moving average (alpha 0.2) of
    reply times in seconds, None until the first reply; ``last_err`` is the
    error of the last failed connection or stream, None while connected.

    ``channel`` is package-internal: the node's
    :class:`~gorums_h2.channel.NodeChannel` (or an inbound or in-process
    one), the seam the call functions send through.
    """

    __slots__ = ("address", "channel", "host", "id", "manager", "port")

    def __init__(self, node_id: int, host: str, port: int, manager: Manager,
                 channel: NodeChannel) -> None:
        self.id = node_id
        self.host = host
        self.port = port
        self.address = channel.address  # the one spelling, nodelist.canonical_address
        self.manager = manager
        self.channel = channel

    @property
    def latency(self) -> float | None:
        return self.channel.latency

    @property
    def last_err(self) -> BaseException | None:
        return self.channel.last_err

    @property
    def connected(self) -> bool:
        """True while the node's stream is established."""
        return self.channel.connected

    async def wait_connected(self) -> None:
        """Wait until the node's stream is established (returns at once if it is)."""
        channel = self.channel
        while channel.stream is None:
            if channel.closing:
                raise channel.unavailable()
            await channel.state_changed.wait()

    async def wait_disconnected(self) -> None:
        """Wait until the node's stream is lost (returns at once if it is down)."""
        channel = self.channel
        while channel.stream is not None:
            await channel.state_changed.wait()

    def context(self, *, metadata: MetadataLike | None = None,
                timeout: float | None = None) -> NodeContext:
        """A context for calls to this node (per-call metadata entries, timeout)."""
        from gorums_h2.context import NodeContext

        return NodeContext(self, metadata=metadata, timeout=timeout)

    def __str__(self) -> str:
        return f"addr: {self.address}"

    def full_string(self) -> str:
        """ID, address and latency, as Go's ``FullString``."""
        lat = "n/a" if self.latency is None else f"{self.latency * 1e3:.3f}ms"
        return f"node {self.id} | addr: {self.address} | latency: {lat}"

    def __repr__(self) -> str:
        return f"Node(id={self.id}, address={self.address!r})"

    def get_id(self) -> int:
        """Deprecated Go spelling (``node.ID()``) of :attr:`id`."""
        warnings.warn("Node.get_id() is deprecated: use node.id", DeprecationWarning,
                      stacklevel=2)
        return self.id


SortKey = Callable[[Node], Any]


def by_id(node: Node) -> int:
    """Sort key: node ID, increasing (Go's ``ID``)."""
    return node.id


def by_port(node: Node) -> int:
    """Sort key: port number, increasing (Go's ``Port``)."""
    return node.port


def by_last_error(node: Node) -> bool:
    """Sort key: nodes without a last error first (Go's ``LastNodeError``)."""
    return node.last_err is not None


def ordered_by(*keys: SortKey) -> Callable[[Iterable[Node]], list[Node]]:
    """A sorter applying ``keys`` in order, ties broken by the next key (Go's ``OrderedBy``).

    ``ordered_by(by_last_error, by_id)(cfg.nodes())`` returns a new list.
    """
    if not keys:
        raise ValueError("ordered_by needs at least one key")

    def sort(nodes: Iterable[Node]) -> list[Node]:
        return sorted(nodes, key=lambda n: tuple(k(n) for k in keys))

    return sort
