"""The stream state table (gorums_h2.wire.stream_state) and its single user."""

from __future__ import annotations

import re

import pytest
from core_pair import CorePair

from gorums_h2.wire.headers import build_trailers
from gorums_h2.wire.status import StatusCode
from gorums_h2.wire.stream_state import (
    FLAGS,
    TRANSITIONS,
    StreamEvent,
    StreamState,
    StreamStateError,
    next_state,
)

S, E = StreamState, StreamEvent


@pytest.mark.parametrize(("state", "event", "after"), [
    (S.OPEN, E.SEND_END, S.HALF_CLOSED_LOCAL),
    (S.OPEN, E.RECV_END, S.HALF_CLOSED_REMOTE),
    (S.HALF_CLOSED_LOCAL, E.RECV_END, S.CLOSED),
    (S.HALF_CLOSED_REMOTE, E.SEND_END, S.CLOSED),
    *[(state, E.RESET, S.CLOSED) for state in S],
    *[(S.CLOSED, event, S.CLOSED) for event in E],
])
def test_transitions(state: StreamState, event: StreamEvent, after: StreamState) -> None:
    assert next_state(state, event) is after


@pytest.mark.parametrize(("state", "event"), [
    (S.HALF_CLOSED_LOCAL, E.SEND_END),  # our end twice
    (S.HALF_CLOSED_REMOTE, E.RECV_END),  # the peer's end twice
])
def test_impossible_events_raise(state: StreamState, event: StreamEvent) -> None:
    with pytest.raises(StreamStateError, match=re.escape(state.value)):
        next_state(state, event)


def test_the_table_covers_every_pair_but_the_impossible_ones() -> None:
    assert len(TRANSITIONS) == len(S) * len(E) - 2
    assert FLAGS[S.OPEN] == (False, False) and FLAGS[S.CLOSED] == (True, True)


def test_a_call_walks_the_table_on_both_sides() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    assert cs.state is ss.state is S.OPEN
    cs.queue_end()
    pair.pump()
    assert cs.state is S.HALF_CLOSED_LOCAL and ss.state is S.HALF_CLOSED_REMOTE
    assert (cs.local_closed, cs.remote_closed) == (True, False)
    ss.queue_end(build_trailers(StatusCode.OK))
    pair.pump()
    assert cs.state is ss.state is S.CLOSED
    assert not pair.client.streams and not pair.server.streams


def test_every_early_close_goes_to_closed_and_drops_unsent_output() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    cs.queue_message(b"never sent")
    pair.client.reset_stream(cs)
    assert cs.state is S.CLOSED and not cs._out and cs._end is None
    pair.pump()
    assert ss.state is S.CLOSED
