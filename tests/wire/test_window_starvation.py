"""Window starvation in the sans-IO core: a peer whose windows keep our
replies waiting gets no new messages decoded (its DATA is parked, its credit
withheld) until the windows open; past a timeout it gets GOAWAY.

The same attack against a real server process, with a probe client and
memory bounds, is in tests/security/test_h2_floods.py.
"""

from __future__ import annotations

from core_pair import CorePair, parse_frames
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame, PingFrame

from gorums_h2.wire.errors import EndOfStream
from gorums_h2.wire.settings import WireSettings

# the client reads nothing at first: its 64 KiB windows close on the replies
SMALL_WINDOWS = WireSettings(stream_window=65535, connection_window=65535)
STARVING = WireSettings(max_window_backlog=100_000)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def starved_pair() -> tuple[CorePair, object, object]:
    pair = CorePair(client_settings=SMALL_WINDOWS, server_settings=STARVING)
    cs, ss = pair.open()
    for _ in range(20):
        ss.queue_message(b"r" * 10_000)  # 200 kB: 64 KiB go, the rest waits
    pair.pump()
    assert pair.server.window_starved
    return pair, cs, ss


def test_a_starved_connection_parks_requests_until_the_window_opens() -> None:
    pair, cs, ss = starved_pair()
    for i in range(50):
        cs.queue_message(b"q%03d" % i)
    cs.queue_end()
    pair.pump()
    assert not ss.has_message and not ss.finished  # parked, not decoded
    assert ss._parked is not None and ss._unacked > 0  # and not acknowledged
    while cs.has_message:  # the client reads: WINDOW_UPDATEs open the window
        cs.pop_message()
        pair.pump()
    assert not pair.server.window_starved and ss.moved == ss.queued
    got = []
    while True:
        try:
            got.append(ss.pop_message())
        except EndOfStream:
            break
    assert got == [b"q%03d" % i for i in range(50)]  # in order, then the end
    assert ss._parked is None and ss._unacked == 0 and pair.server.inbound_bytes == 0


def test_control_frames_are_answered_while_starved() -> None:
    pair, cs, ss = starved_pair()
    seen: list[bytes] = []
    pair.tap = lambda direction, data: seen.append(data) if direction == "s2c" else None
    pair.client.ping(b"12345678")
    cs.queue_message(b"q")
    pair.pump()
    acks = [f for data in seen for f in parse_frames(data)
            if isinstance(f, PingFrame) and "ACK" in f.flags]
    assert [f.opaque_data for f in acks] == [b"12345678"]
    assert pair.server.window_starved and not ss.has_message


def test_staying_starved_past_the_timeout_gets_goaway() -> None:
    clock = Clock()
    pair = CorePair(client_settings=SMALL_WINDOWS,
                    server_settings=WireSettings(max_window_backlog=100_000,
                                                 window_starve_timeout=5.0))
    pair.server._clock = clock
    cs, ss = pair.open()
    for _ in range(20):
        ss.queue_message(b"r" * 10_000)
    pair.pump()
    assert pair.server.window_starved
    clock.now += 4.0
    cs.queue_message(b"q")
    pair.pump()
    assert pair.server.error is None
    seen: list[bytes] = []
    pair.tap = lambda direction, data: seen.append(data) if direction == "s2c" else None
    clock.now += 2.0
    cs.queue_message(b"q")
    pair.pump()
    goaways = [f for data in seen for f in parse_frames(data) if isinstance(f, GoAwayFrame)]
    assert [f.error_code for f in goaways] == [ErrorCodes.ENHANCE_YOUR_CALM]
    assert pair.server.error is not None


def test_a_window_backlog_below_the_limit_changes_nothing() -> None:
    pair = CorePair(client_settings=SMALL_WINDOWS, server_settings=STARVING)
    cs, ss = pair.open()
    for _ in range(8):
        ss.queue_message(b"r" * 10_000)  # 80 kB: 16 kB wait, below 100 kB
    cs.queue_message(b"q")
    pair.pump()
    assert not pair.server.window_starved
    assert ss.pop_message() == b"q"


def test_a_client_never_starves() -> None:
    pair = CorePair(client_settings=WireSettings(max_window_backlog=100_000),
                    server_settings=SMALL_WINDOWS)
    cs, ss = pair.open()
    for _ in range(20):
        cs.queue_message(b"q" * 10_000)
    ss.queue_message(b"r")
    pair.pump()
    assert not pair.client.window_starved
    assert cs.pop_message() == b"r"
