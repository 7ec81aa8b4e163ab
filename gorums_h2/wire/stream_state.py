"""The state of one stream as data: four states, three events, one table.

Modelled on h11's ``_state.py``: :data:`TRANSITIONS` is the only place that
says how a stream's state changes, and :func:`next_state` the only function
that applies it (:meth:`StreamCore._transition` calls it and nothing else
assigns the state). The states are RFC 9113's, from this side's view:

==================  =====================================================
state               meaning
==================  =====================================================
OPEN                both sides may still send
HALF_CLOSED_LOCAL   we sent END_STREAM (half-close, or trailers); the peer
                    may still send
HALF_CLOSED_REMOTE  the peer sent END_STREAM; we may still send
CLOSED              nothing more is sent either way (both ends seen, or a
                    reset by either side, a GOAWAY refusal, or the
                    connection failed)
==================  =====================================================

Every event is accepted in CLOSED (late events of a dead stream change
nothing); an impossible event (END_STREAM sent twice) raises
:class:`StreamStateError`, a bug in the caller, never the peer's doing.
"""

from __future__ import annotations

import enum

__all__ = ["TRANSITIONS", "StreamEvent", "StreamState", "StreamStateError", "next_state"]


class StreamState(enum.Enum):
    OPEN = "open"
    HALF_CLOSED_LOCAL = "half-closed (local)"
    HALF_CLOSED_REMOTE = "half-closed (remote)"
    CLOSED = "closed"


class StreamEvent(enum.Enum):
    SEND_END = "we sent END_STREAM"
    RECV_END = "the peer sent END_STREAM"
    RESET = "reset either way, refused, or the connection failed"


class StreamStateError(RuntimeError):
    """An event that cannot happen in the stream's state (a bug of ours)."""


_S, _E = StreamState, StreamEvent

TRANSITIONS: dict[tuple[StreamState, StreamEvent], StreamState] = {
    (_S.OPEN, _E.SEND_END): _S.HALF_CLOSED_LOCAL,
    (_S.OPEN, _E.RECV_END): _S.HALF_CLOSED_REMOTE,
    (_S.OPEN, _E.RESET): _S.CLOSED,
    (_S.HALF_CLOSED_LOCAL, _E.RECV_END): _S.CLOSED,
    (_S.HALF_CLOSED_LOCAL, _E.RESET): _S.CLOSED,
    (_S.HALF_CLOSED_REMOTE, _E.SEND_END): _S.CLOSED,
    (_S.HALF_CLOSED_REMOTE, _E.RESET): _S.CLOSED,
    (_S.CLOSED, _E.SEND_END): _S.CLOSED,
    (_S.CLOSED, _E.RECV_END): _S.CLOSED,
    (_S.CLOSED, _E.RESET): _S.CLOSED,
}

# (local_closed, remote_closed) of each state: StreamCore keeps them as
# plain attributes, set only by _transition, for the per-message checks
FLAGS: dict[StreamState, tuple[bool, bool]] = {
    _S.OPEN: (False, False),
    _S.HALF_CLOSED_LOCAL: (True, False),
    _S.HALF_CLOSED_REMOTE: (False, True),
    _S.CLOSED: (True, True),
}


def next_state(state: StreamState, event: StreamEvent) -> StreamState:
    """The state after ``event`` in ``state``; :class:`StreamStateError` if
    the event is impossible there."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise StreamStateError(f"{event.value} in state {state.value}") from None
