"""The runtime's errors.

* :class:`QuorumCallError` — a quorum call (or multicast) failed; its
  subclasses name the cause (Go's ``ErrIncomplete`` / ``ErrSendFailure``),
  so ``except IncompleteError`` catches exactly that cause. ``node_errors``
  maps each failed node's ID to its error.
* :class:`StatusError` (from the wire layer) — one node answered with a gRPC
  status, or could not be reached (code UNAVAILABLE); precise subclasses are
  in :mod:`gorums_h2.wire.errors`.
* :class:`NodeShutdownError` — the node shut down gracefully (it sent GOAWAY
  and ended our stream), as opposed to crashing (``ConnectionBroken``).
* :class:`TypeMismatchError` — a reply's message is not of the expected type.
* :class:`WireMismatchError` — the node speaks the other NodeStream wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gorums_h2.wire.errors import GoAwayError
from gorums_h2.wire.status import StatusCode, StatusError

__all__ = [
    "IncompleteError",
    "NodeError",
    "NodeShutdownError",
    "QuorumCallError",
    "SendFailureError",
    "StatusCode",
    "StatusError",
    "TypeMismatchError",
    "WireMismatchError",
]


@dataclass(frozen=True, slots=True)
class NodeError:
    """The error one node contributed to a failed quorum call."""

    node_id: int
    cause: BaseException

    def __str__(self) -> str:
        return f"node {self.node_id}: {self.cause}"


class QuorumCallError(Exception):
    """A quorum call failed; see the subclass for the cause.

    ``node_errors`` is ``{node_id: exception}`` for every node that failed
    (ordered by node ID); :attr:`errors` gives them as :class:`NodeError`.
    """

    cause_text = "quorum call failed"

    def __init__(self, node_errors: Mapping[int, BaseException] | None = None,
                 detail: str = "") -> None:
        self.node_errors: dict[int, BaseException] = dict(sorted((node_errors or {}).items()))
        self.detail = detail
        super().__init__(str(self))

    @property
    def cause(self) -> type[QuorumCallError]:
        """The cause as a class: :class:`IncompleteError` or :class:`SendFailureError`."""
        return type(self)

    @property
    def errors(self) -> list[NodeError]:
        return [NodeError(nid, err) for nid, err in self.node_errors.items()]

    def __str__(self) -> str:
        text = self.cause_text + (f" ({self.detail})" if self.detail else "")
        if self.node_errors:
            shown = "; ".join(str(e) for e in self.errors)
            text += f": {len(self.node_errors)} node error(s): {shown}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node_errors!r})"


class IncompleteError(QuorumCallError):
    """Too few successful replies to satisfy the quorum (Go's ErrIncomplete)."""

    cause_text = "incomplete call"


class SendFailureError(QuorumCallError):
    """Sending failed for one or more nodes (Go's ErrSendFailure)."""

    cause_text = "send failure"


class TypeMismatchError(TypeError):
    """A response is not of the expected message type (Go's ErrTypeMismatch)."""


class NodeShutdownError(GoAwayError):
    """The node shut down gracefully (GOAWAY); status UNAVAILABLE.

    Distinct from :class:`~gorums_h2.wire.errors.ConnectionBroken`, which
    means the connection failed without notice (crash, network loss).
    """


class WireMismatchError(StatusError):
    """The node refused our NodeStream because it speaks the other Go Gorums
    wire (``ordering`` of v0.11 vs ``stream`` of master); status UNIMPLEMENTED.

    The message names the other wire and the option to use
    (``Manager(wire=...)``); ``wire`` is the name of the wire we tried.
    """

    def __init__(self, message: str, wire: str) -> None:
        super().__init__(StatusCode.UNIMPLEMENTED, message)
        self.wire = wire
