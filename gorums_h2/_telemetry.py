"""The runtime's telemetry hooks: None unless an integration installed some.

:mod:`gorums_h2.otel` (OpenTelemetry) sets :data:`hooks`; the call paths read
it once per call, so with no integration the cost is one global lookup and a
None test per call (and per reply of a quorum call). The hooks are plain
Protocols, so the runtime imports nothing of OpenTelemetry.

Guarantees to an implementation: every :meth:`CallHooks.start_call` is
followed by exactly one :meth:`CallObservation.end`, after every
:meth:`CallObservation.node_done` of that call; hooks run synchronously in the
event loop's thread and must not raise (an exception would fail the call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gorums_h2.channel import NodeChannel

__all__ = ["CallHooks", "CallObservation", "hooks", "install"]


class CallObservation(Protocol):
    """One client call being observed."""

    quorum: str | None
    """The quorum function (``first``, ``majority``, ``all``, ``threshold``,
    ``correctable``, ``async_majority``, ...); None while the replies are only
    iterated. Set by the runtime before :meth:`end`."""

    def node_done(self, node_id: int, err: BaseException | None) -> None:
        """Node ``node_id`` replied (``err`` None) or failed with ``err``."""

    def end(self, err: BaseException | None) -> None:
        """The call is over: succeeded (None) or failed with ``err``."""


class CallHooks(Protocol):
    """What the runtime reports."""

    def start_call(self, method: str, call_type: str, nodes: int) -> CallObservation:
        """A call of ``call_type`` (``rpc``, ``unicast``, ``multicast``,
        ``quorumcall``, ``quorumcall_stream``) to ``nodes`` nodes starts."""

    def connected(self, channel: NodeChannel) -> None:
        """``channel`` established its NodeStream (again, after a reconnect)."""


hooks: CallHooks | None = None


def install(new: CallHooks | None) -> CallHooks | None:
    """Set the hooks (None: none); returns the previous ones."""
    global hooks
    old, hooks = hooks, new
    return old
