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


def test_a_silent_peer_after_an_ack_gets_one_spare_ping_then_needs_a_reply() -> None:
    p = probe()
    assert p.should_ping(3.0, busy=True, last_read=0.0, received=7) is False  # busy from 3.0
    assert p.should_ping(6.0, busy=True, last_read=0.0, received=7)
    p.ping_sent(6.0, received=7)
    assert p.strikes == 0  # the first PING is never a strike
    p.ping_acked(6.1, received=7)
    # silent since the ACK: not before the threshold, then the one spare PING
    assert not p.should_ping(9.0, busy=True, last_read=6.1, received=7)
    assert p.should_ping(9.2, busy=True, last_read=6.1, received=7)
    p.ping_sent(9.2, received=7)
    assert p.strikes == 1  # grpc-go counts it (and forgives up to two)
    p.ping_acked(9.3, received=7)
    # the budget is spent: a third PING without a reply would risk the limit
    for t in (12.4, 20.0, 100.0, 300.0):
        assert not p.should_ping(t, busy=True, last_read=9.3, received=7)
    assert p.should_ping(319.3, busy=True, last_read=9.3, received=7)  # MinTime passed
    p.ping_sent(319.3, received=7)
    assert p.strikes == 1  # not a strike, and not a reset either
    p.ping_acked(319.4, received=7)
    # a reply after the ACK resets grpc-go's count with the next PING
    assert not p.should_ping(322.4, busy=True, last_read=319.5, received=8)  # read 2.9 s ago
    assert p.should_ping(322.6, busy=True, last_read=319.5, received=8)
    p.ping_sent(322.6, received=8)
    assert p.strikes == 0
    p.ping_acked(322.7, received=8)
    assert p.should_ping(325.8, busy=True, last_read=322.7, received=8)  # spare again


def test_the_strike_budget_is_never_past_grpc_gos_two() -> None:
    strict = LivenessProbe(after=1.0, timeout=5.0, min_interval=310.0, strike_budget=0)
    strict.ping_sent(1.0, received=0)
    strict.ping_acked(1.1, received=0)
    assert not strict.should_ping(2.2, busy=True, last_read=1.1, received=0)
    two = LivenessProbe(after=1.0, timeout=5.0, min_interval=310.0, strike_budget=2)
    t = 0.0
    for expected in (0, 1, 2):
        t += 1.1
        assert two.should_ping(t, busy=True, last_read=t - 1.1, received=0) or t < 2
        two.ping_sent(t, received=0)
        two.ping_acked(t, received=0)
        assert two.strikes == expected
    assert not two.should_ping(t + 1.1, busy=True, last_read=t, received=0)
    with pytest.raises(ValueError, match="strike_budget"):
        LivenessProbe(after=1.0, timeout=5.0, min_interval=310.0, strike_budget=3)


def test_bad_delays_are_refused() -> None:
    with pytest.raises(ValueError):
        LivenessProbe(after=0, timeout=1, min_interval=1)
