"""Call contexts: which node or configuration a call goes to, with per-call
metadata entries and an optional timeout (Go's NodeContext / ConfigContext).

Cancellation is anyio's: wrap a call in a cancel scope (``move_on_after``,
``fail_after``, task group cancellation) and it stops cleanly. ``timeout``
is a per-call limit applied from the moment the call is sent.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from gorums_h2.codec.envelope import encode_entries
from gorums_h2.wire.metadata import Metadata, MetadataLike

if TYPE_CHECKING:
    from gorums_h2.configuration import Configuration
    from gorums_h2.node import Node

__all__ = ["CallContext", "ConfigContext", "NodeContext"]


class CallContext:
    """Shared part of :class:`NodeContext` and :class:`ConfigContext`."""

    __slots__ = ("_entries", "metadata", "timeout")

    def __init__(self, *, metadata: MetadataLike | None, timeout: float | None) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        md = metadata if isinstance(metadata, Metadata) or metadata is None else Metadata(metadata)
        self.metadata: Metadata | None = md
        self.timeout = timeout
        self._entries: bytes | None = None

    @property
    def entries_bytes(self) -> bytes:
        """The metadata as serialized entry fields (field 4 of both wires' envelopes; cached)."""
        if self._entries is None:
            md = self.metadata
            if not md:
                self._entries = b""
            else:
                self._entries = encode_entries(
                    (k, v.decode("latin-1") if isinstance(v, bytes) else v)
                    for k, v in md.items_all()
                )
        return self._entries


class NodeContext(CallContext):
    """Context for calls to one node (ordered RPC, unicast)."""

    __slots__ = ("node",)

    def __init__(self, node: Node, *, metadata: MetadataLike | None = None,
                 timeout: float | None = None) -> None:
        super().__init__(metadata=metadata, timeout=timeout)
        self.node = node

    def __repr__(self) -> str:
        return f"NodeContext({self.node!r}, timeout={self.timeout})"


class ConfigContext(CallContext):
    """Context for calls to a configuration (quorum calls, multicast)."""

    __slots__ = ("configuration",)

    def __init__(self, configuration: Configuration, *, metadata: MetadataLike | None = None,
                 timeout: float | None = None) -> None:
        super().__init__(metadata=metadata, timeout=timeout)
        self.configuration = configuration

    @property
    def config(self) -> Configuration:
        """Deprecated short name of :attr:`configuration` (Go's ``Configuration()``)."""
        warnings.warn("ConfigContext.config is deprecated: use ctx.configuration",
                      DeprecationWarning, stacklevel=2)
        return self.configuration

    def __repr__(self) -> str:
        return f"ConfigContext({self.configuration!r}, timeout={self.timeout})"
