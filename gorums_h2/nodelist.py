"""Ways to name the nodes of a new configuration (Go's NodeListOption).

* :func:`with_node_list` — addresses; IDs as the Go Gorums of the manager's
  wire computes them: FNV-1a 32 of the resolved ``ip:port`` (v0.11,
  ``ordering``), or 1, 2, 3 … in list order (master, ``stream``);
* :func:`with_node_map` — addresses with application-chosen IDs;
* :func:`with_node_ids` — IDs of nodes the manager already has;
* ``Configuration.and_/except_/with_new_nodes/without_nodes/without_errors``
  derive options from existing configurations.

Addresses are resolved when a configuration is made. IP addresses need no
lookup; a host name is looked up with a blocking ``getaddrinfo`` in
``Manager.new_configuration`` (fine for ``localhost`` and /etc/hosts). To
keep DNS off the event loop, ``await option.resolved()`` first (a worker
thread, via :func:`anyio.getaddrinfo`); :func:`~gorums_h2.new_config` does
that for you.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from gorums_h2.manager import Manager
    from gorums_h2.node import Node

__all__ = [
    "NodeListOption",
    "node_id_for",
    "parse_address",
    "parse_listen_address",
    "resolve_address",
    "resolve_address_async",
    "with_node_ids",
    "with_node_list",
    "with_node_map",
]


def fnv1a_32(data: bytes) -> int:
    """The 32-bit FNV-1a hash (Go's hash/fnv New32a)."""
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def parse_address(address: str) -> tuple[str, int]:
    """Split ``host:port`` or ``[v6]:port``; ValueError if malformed."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"invalid node address {address!r}: expected host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"invalid port in node address {address!r}")
    return host, port


def parse_listen_address(address: str) -> tuple[str, int]:
    """Split a listen address: ``host:port``, ``[v6]:port`` or ``:port``.

    ``:port`` (no host) listens on **127.0.0.1 only**, in every gorums_h2
    CLI and in ``System``: all interfaces must be asked for explicitly, with
    ``0.0.0.0:port`` or ``[::]:port`` (Go's ``:port`` means all interfaces;
    a server reachable from the network should be a deliberate choice).
    Port 0 picks a free port. ValueError if malformed.
    """
    host, sep, port_text = address.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ValueError(
            f"invalid listen address {address!r}: expected HOST:PORT or :PORT (port 0: any)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"invalid listen address {address!r}: write IPv6 hosts as [host]:port")
    return host or "127.0.0.1", int(port_text)


def _ip_literal(host: str) -> str | None:
    """``host`` as getaddrinfo would print it if it is an IP address, else None."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _first_ip(infos: list[tuple[object, ...]]) -> str:
    # prefer IPv4, like Go's net.ResolveTCPAddr
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    sockaddr = infos[0][4]
    assert isinstance(sockaddr, tuple)
    return str(sockaddr[0])


def resolve_address(address: str) -> tuple[str, int]:
    """Resolve ``host:port`` to ``(ip, port)``, preferring IPv4 like Go's
    ``net.ResolveTCPAddr``. An IP address is returned without a lookup; a
    host name is looked up with a blocking ``getaddrinfo`` (see
    :func:`resolve_address_async`). Raises ValueError if the host does not
    resolve."""
    host, port = parse_address(address)
    ip = _ip_literal(host)
    if ip is not None:
        return ip, port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve node address {address!r}: {exc}") from None
    return _first_ip(infos), port  # type: ignore[arg-type]


async def resolve_address_async(address: str) -> tuple[str, int]:
    """:func:`resolve_address` off the event loop (:func:`anyio.getaddrinfo`
    runs the lookup in a worker thread). Raises ValueError likewise."""
    host, port = parse_address(address)
    ip = _ip_literal(host)
    if ip is not None:
        return ip, port
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve node address {address!r}: {exc}") from None
    return _first_ip(infos), port  # type: ignore[arg-type]


def canonical_address(ip: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets (Go's ``net.JoinHostPort``): the
    one spelling of an address in node IDs, ``Node.address`` and messages."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def node_id_for(address: str) -> int:
    """The node ID Go Gorums assigns to ``address`` (FNV-1a 32 of the resolved ``ip:port``)."""
    ip, port = resolve_address(address)
    return fnv1a_32(canonical_address(ip, port).encode())


class NodeListOption:
    """Describes the nodes of a configuration; resolved by a manager."""

    __slots__ = ("_resolve", "_resolve_names")

    def __init__(self, resolve: Callable[[Manager], list[Node]],
                 resolve_names: Callable[[], Awaitable[NodeListOption]] | None = None) -> None:
        self._resolve = resolve
        self._resolve_names = resolve_names

    def nodes(self, manager: Manager) -> list[Node]:
        """The nodes this option names, created in ``manager`` if needed."""
        return self._resolve(manager)

    async def resolved(self) -> NodeListOption:
        """The same nodes with every host name already looked up, off the
        event loop (``cfg = mgr.new_configuration(await opt.resolved())``).

        Node IDs are unchanged (they hash the resolved address). Raises
        ValueError if a host does not resolve.
        """
        if self._resolve_names is None:
            return self
        return await self._resolve_names()


def with_node_list(addresses: Iterable[str]) -> NodeListOption:
    """Nodes at ``addresses``, with the IDs Go Gorums gives them on the manager's wire.

    * ``ordering`` (v0.11): FNV-1a 32 of the resolved ``ip:port``;
    * ``stream`` (master's ``WithNodeList``): an address the manager already
      knows keeps its ID; new ones are numbered in list order from the
      largest ID the manager has plus one (1, 2, 3 … for a new manager).
    """
    addrs = list(addresses)
    if not addrs:
        raise ValueError("with_node_list needs at least one address")

    def resolve(manager: Manager) -> list[Node]:
        nodes = []
        sequential = manager.wire.sequential_node_ids
        for addr in addrs:
            ip, port = resolve_address(addr)
            if sequential:
                known = manager.node_at(ip, port)
                nid = known.id if known is not None else max(manager.node_ids(), default=0) + 1
            else:
                nid = fnv1a_32(canonical_address(ip, port).encode())
            nodes.append(manager.add_node(nid, ip, port))
        return nodes

    async def resolve_names() -> NodeListOption:
        return with_node_list(
            [canonical_address(*await resolve_address_async(a)) for a in addrs])

    return NodeListOption(resolve, resolve_names)


def with_node_map(id_map: Mapping[str, int]) -> NodeListOption:
    """Nodes at the map's addresses with the map's IDs."""
    items = list(id_map.items())
    if not items:
        raise ValueError("with_node_map needs at least one address")
    for addr, nid in items:
        if not isinstance(nid, int) or not 0 <= nid < 2**32:
            raise ValueError(f"node ID for {addr!r} must be a uint32, got {nid!r}")

    def resolve(manager: Manager) -> list[Node]:
        nodes = []
        for addr, nid in items:
            ip, port = resolve_address(addr)
            nodes.append(manager.add_node(nid, ip, port))
        return nodes

    async def resolve_names() -> NodeListOption:
        resolved: dict[str, int] = {}
        for addr, nid in items:
            resolved[canonical_address(*await resolve_address_async(addr))] = nid
        return with_node_map(resolved)

    return NodeListOption(resolve, resolve_names)


def with_node_ids(ids: Iterable[int]) -> NodeListOption:
    """Nodes the manager already has, by ID; KeyError for an unknown ID."""
    wanted = list(ids)
    if not wanted:
        raise ValueError("with_node_ids needs at least one ID")

    def resolve(manager: Manager) -> list[Node]:
        nodes = []
        for nid in wanted:
            node = manager.node(nid)
            if node is None:
                raise KeyError(f"node ID {nid} is not known to the manager")
            nodes.append(node)
        return nodes

    return NodeListOption(resolve)


def with_nodes(nodes: Iterable[Node]) -> NodeListOption:
    """Exactly these nodes (they must belong to the manager that resolves the option)."""
    fixed = list(nodes)

    def resolve(manager: Manager) -> list[Node]:
        for node in fixed:
            if node.manager is not manager:
                raise ValueError(f"{node!r} belongs to another manager")
        return fixed

    return NodeListOption(resolve)
