"""The dead-peer PING policy (sans-IO): when to probe, and never a grpc-go strike."""

from __future__ import annotations

import pytest

from gorums_h2.liveness import LivenessProbe


def probe() -> LivenessProbe:
    return LivenessProbe(after=3.0, timeout=5.0, min_interval=310.0)


def test_pings_only_after_being_busy_and_silent_for_the_threshold() -> None:
    p = probe()
    assert not p.should_ping(0.0, busy=False, last_read=0.0, received=0)
    assert not p.should_ping(1.0, busy=True, last_read=0.0, received=0)  # busy since 1.0
    assert not p.should_ping(3.5, busy=True, last_read=0.0, received=0)
    assert p.busy_for(3.5) == 2.5
    assert not p.should_ping(4.5, busy=True, last_read=2.0, received=0)  # read 2.5 s ago
    assert p.should_ping(5.0, busy=True, last_read=2.0, received=0)
    # idle resets the busy clock
    assert not p.should_ping(5.5, busy=False, last_read=2.0, received=0)
    assert not p.should_ping(6.0, busy=True, last_read=2.0, received=0)
    assert p.busy_for(6.0) == 0.0


def test_a_second_ping_needs_a_reply_after_the_ack_or_the_min_interval() -> None:
    p = probe()
    assert p.should_ping(3.0, busy=True, last_read=0.0, received=7) is False  # busy from 3.0
    assert p.should_ping(6.0, busy=True, last_read=0.0, received=7)
    p.ping_sent(6.0)
    p.ping_acked(6.1, received=7)
    # still busy and silent, no reply since the ACK: a PING would be a strike
    for t in (9.2, 20.0, 100.0, 300.0):
        assert not p.should_ping(t, busy=True, last_read=6.1, received=7)
    assert p.should_ping(316.1, busy=True, last_read=6.1, received=7)  # MinTime passed
    # a reply after the ACK makes the next PING safe (grpc-go resets its strikes)
    p.ping_sent(316.1)
    p.ping_acked(316.2, received=7)
    assert not p.should_ping(319.0, busy=True, last_read=316.2, received=8)  # busy clock restarted
    assert p.should_ping(319.5, busy=True, last_read=316.2, received=8)


def test_bad_delays_are_refused() -> None:
    with pytest.raises(ValueError):
        LivenessProbe(after=0, timeout=1, min_interval=1)
