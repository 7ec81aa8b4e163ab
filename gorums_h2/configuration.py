"""Configuration: an immutable set of nodes that quorum calls go to."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from gorums_h2.errors import QuorumCallError
from gorums_h2.nodelist import NodeListOption, with_nodes
from gorums_h2.wire.status import StatusCode, StatusError

if TYPE_CHECKING:
    from gorums_h2.context import ConfigContext
    from gorums_h2.manager import Manager
    from gorums_h2.node import Node
    from gorums_h2.wire.metadata import MetadataLike

__all__ = ["Configuration"]


class Configuration:
    """An immutable set of nodes of one manager, ordered by node ID.

    Derive new configurations with ``mgr.new_configuration(cfg.and_(other))``
    and friends (Go's NodeListOption methods), or directly with the set
    operators ``cfg | other`` (union) and ``cfg - other`` (difference).
    """

    __slots__ = ("_by_id", "_nodes")

    def __init__(self, nodes: Iterable[Node]) -> None:
        by_id: dict[int, Node] = {}
        for node in nodes:
            by_id.setdefault(node.id, node)
        self._nodes: tuple[Node, ...] = tuple(sorted(by_id.values(), key=lambda n: n.id))
        self._by_id = {n.id: n for n in self._nodes}
        managers = {id(n.manager) for n in self._nodes}
        if len(managers) > 1:
            raise ValueError("a configuration's nodes must belong to one manager")

    # --- reading ---

    def nodes(self) -> list[Node]:
        return list(self._nodes)

    def node_ids(self) -> list[int]:
        return [n.id for n in self._nodes]

    def node(self, node_id: int) -> Node | None:
        return self._by_id.get(node_id)

    def size(self) -> int:
        return len(self._nodes)

    @property
    def manager(self) -> Manager | None:
        """The manager of this configuration's nodes (None if empty)."""
        return self._nodes[0].manager if self._nodes else None

    def equal(self, other: Configuration) -> bool:
        """Deprecated Go spelling (``Equal``) of ``==``: the same set of nodes."""
        warnings.warn("Configuration.equal() is deprecated: use ==", DeprecationWarning,
                      stacklevel=2)
        return self == other

    def context(self, *, metadata: MetadataLike | None = None,
                timeout: float | None = None) -> ConfigContext:
        """A context for calls to this configuration."""
        from gorums_h2.context import ConfigContext

        return ConfigContext(self, metadata=metadata, timeout=timeout)

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, int):
            return item in self._by_id
        return any(item is n for n in self._nodes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Configuration):
            return NotImplemented
        return self._by_id.keys() == other._by_id.keys()  # the same set of nodes

    def __hash__(self) -> int:
        return hash(tuple(self._by_id))

    def __repr__(self) -> str:
        return f"Configuration({self.node_ids()})"

    # --- derivation (Go's NodeListOption methods) ---

    def and_(self, other: Configuration) -> NodeListOption:
        """Nodes of this configuration and ``other`` (Go's ``And``)."""
        return with_nodes([*self._nodes, *other._nodes])

    def except_(self, other: Configuration) -> NodeListOption:
        """Nodes of this configuration not in ``other`` (Go's ``Except``)."""
        return with_nodes(n for n in self._nodes if n.id not in other._by_id)

    def with_new_nodes(self, new_nodes: NodeListOption) -> NodeListOption:
        """This configuration's nodes plus those ``new_nodes`` names (Go's ``WithNewNodes``)."""
        mine = self._nodes

        def resolve(manager: Manager) -> list[Node]:
            return [*mine, *new_nodes.nodes(manager)]

        return NodeListOption(resolve)

    def without_nodes(self, *ids: int) -> NodeListOption:
        """This configuration without the given node IDs (Go's ``WithoutNodes``)."""
        drop = set(ids)
        return with_nodes(n for n in self._nodes if n.id not in drop)

    def without_errors(self, err: QuorumCallError, *error_types: Any) -> NodeListOption:
        """This configuration without the nodes that failed in ``err``.

        With ``error_types``, only nodes whose error matches one of them are
        left out: an exception class (``isinstance``) or a :class:`StatusCode`
        (a :class:`StatusError` with that code). Go's ``WithoutErrors``.
        """
        failed = {
            nid for nid, exc in err.node_errors.items()
            if not error_types or any(_matches(exc, t) for t in error_types)
        }
        return with_nodes(n for n in self._nodes if n.id not in failed)

    def __or__(self, other: Configuration) -> Configuration:
        return Configuration([*self._nodes, *other._nodes])

    def __sub__(self, other: Configuration) -> Configuration:
        return Configuration(n for n in self._nodes if n.id not in other._by_id)

    def __and__(self, other: Configuration) -> Configuration:
        return Configuration(n for n in self._nodes if n.id in other._by_id)


def _matches(exc: BaseException, kind: Any) -> bool:
    if isinstance(kind, StatusCode):
        return isinstance(exc, StatusError) and exc.code == kind
    if isinstance(kind, type) and issubclass(kind, BaseException):
        return isinstance(exc, kind)
    return bool(exc == kind)
