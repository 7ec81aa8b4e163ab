"""ConnectionTimers: which lifecycle limit is due when (sans-IO, no sockets, no clock)."""

from __future__ import annotations

import math

import pytest

from gorums_h2.wire.lifecycle import Action, ConnectionTimers, ServerLimits


def poll(t: ConnectionTimers, now: float, last_read: float = 0.0, handshaken: bool = True,
         open_streams: int = 1) -> tuple[Action | None, float]:
    return t.poll(now, last_read=last_read, handshaken=handshaken, open_streams=open_streams)


def test_defaults_close_a_vanished_client_within_60s() -> None:
    lim = ServerLimits()
    assert lim.handshake_timeout is not None and lim.handshake_timeout <= 10
    assert lim.keepalive_time is not None
    assert lim.keepalive_time + lim.keepalive_timeout < 60


def test_handshake_deadline_is_absolute_even_if_bytes_trickle_in() -> None:
    t = ConnectionTimers(ServerLimits(handshake_timeout=5, keepalive_time=None), started=100)
    assert poll(t, 101, last_read=101, handshaken=False) == (None, 105)
    assert poll(t, 104.9, last_read=104.9, handshaken=False) == (None, 105)
    assert poll(t, 105, last_read=104.99, handshaken=False)[0] is Action.HANDSHAKE_TIMEOUT


def test_handshake_done_cancels_the_deadline() -> None:
    t = ConnectionTimers(ServerLimits(handshake_timeout=5, keepalive_time=None), started=0)
    assert poll(t, 1, handshaken=True) == (None, math.inf)
    assert poll(t, 50, handshaken=True) == (None, math.inf)


def test_keepalive_ping_after_silence_then_timeout() -> None:
    t = ConnectionTimers(ServerLimits(keepalive_time=30, keepalive_timeout=20), started=0)
    assert poll(t, 10, last_read=5) == (None, 35)
    assert poll(t, 35, last_read=5)[0] is Action.PING
    assert poll(t, 36, last_read=5) == (None, 55)
    assert poll(t, 55, last_read=5)[0] is Action.PING_TIMEOUT


def test_any_bytes_after_the_ping_count_as_alive() -> None:
    t = ConnectionTimers(ServerLimits(keepalive_time=30, keepalive_timeout=20), started=0)
    assert poll(t, 30)[0] is Action.PING
    assert poll(t, 40, last_read=31) == (None, 61)  # next ping 30 s after that read
    assert poll(t, 61, last_read=31)[0] is Action.PING


def test_never_read_counts_from_the_start() -> None:
    t = ConnectionTimers(ServerLimits(handshake_timeout=None, keepalive_time=2), started=1000)
    assert poll(t, 1001, last_read=0.0) == (None, 1002)


def test_idle_only_without_streams() -> None:
    t = ConnectionTimers(ServerLimits(handshake_timeout=None, keepalive_time=None,
                                      max_connection_idle=10), started=0)
    assert poll(t, 9, open_streams=0) == (None, 10)
    assert poll(t, 9.5, open_streams=1) == (None, 19.5)  # busy: idle clock stops
    assert poll(t, 12, open_streams=0) == (None, 22)     # idle again since 12
    assert poll(t, 22, open_streams=0)[0] is Action.IDLE


def test_age_then_grace_then_close() -> None:
    lim = ServerLimits(handshake_timeout=None, keepalive_time=None, max_connection_age=100,
                       max_connection_age_grace=10)
    t = ConnectionTimers(lim, started=0, jitter=0.9)
    assert poll(t, 1) == (None, 90)
    assert poll(t, 90)[0] is Action.AGE
    assert poll(t, 95) == (None, 100)
    assert poll(t, 100)[0] is Action.AGE_GRACE_OVER


def test_age_grace_ends_early_when_streams_end() -> None:
    lim = ServerLimits(handshake_timeout=None, keepalive_time=None, max_connection_age=1)
    t = ConnectionTimers(lim, started=0)
    assert poll(t, 1)[0] is Action.AGE
    assert poll(t, 1000, open_streams=2) == (None, math.inf)  # no grace: waits for them
    assert poll(t, 1001, open_streams=0)[0] is Action.AGE_GRACE_OVER


@pytest.mark.parametrize("field", ["handshake_timeout", "keepalive_time", "keepalive_timeout",
                                   "max_connection_idle", "max_connection_age",
                                   "tcp_keepalive"])
def test_nonpositive_durations_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ServerLimits(**{field: 0})


def test_max_connections_at_least_one() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        ServerLimits(max_connections=0)
