"""The HTTP/2 defences of the sans-IO core, without sockets (see docs/security.md).

The same attacks against a real server process, with a probe client and
memory bounds, are in tests/security/test_h2_floods.py.
"""

from __future__ import annotations

import struct

import pytest
from core_pair import CorePair, parse_frames, request_headers
from h2.errors import ErrorCodes
from hpack import Encoder
from hyperframe.frame import GoAwayFrame, PingFrame, RstStreamFrame

from gorums_h2.wire._hpack import install
from gorums_h2.wire.headers import build_trailers
from gorums_h2.wire.limits import RateBudget
from gorums_h2.wire.protocol import ConnectionCore
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.status import StatusCode

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MiB = 1 << 20


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return struct.pack(">BHBBL", n >> 16, n & 0xFFFF, ftype, flags, sid) + payload


HEADERS, RST, SETTINGS, PING, CONTINUATION = 0x1, 0x3, 0x4, 0x6, 0x9
END_HEADERS = 0x4
BLOCK = Encoder().encode(request_headers(), huffman=False)  # for one stream only
# never-indexed literals leave the HPACK table alone: one block opens any stream
STATELESS = b"".join(b"\x10" + bytes([len(k)]) + k + bytes([len(v)]) + v
                     for k, v in request_headers())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def server(settings: WireSettings | None = None, clock: Clock | None = None
           ) -> tuple[ConnectionCore, list[int]]:
    """A server core that has read the client preface; returns it and the
    stream ids it dispatched."""
    core = ConnectionCore(client_side=False, settings=settings,
                          clock=clock or Clock())
    started: list[int] = []
    core.on_request = lambda stream, headers: started.append(stream.stream_id)
    core.initiate()
    core.data_to_send()
    core.receive_data(PREFACE + frame(SETTINGS, 0, 0))  # one empty frame
    core.data_to_send()
    core.confirm_written()
    return core, started


def sent(core: ConnectionCore) -> list[object]:
    return parse_frames(core.data_to_send())


def goaway_code(frames: list[object]) -> int | None:
    codes = [f.error_code for f in frames if isinstance(f, GoAwayFrame)]
    return codes[0] if codes else None


# ---- RateBudget ----

def test_rate_budget_counts_per_window() -> None:
    budget = RateBudget(3, 10.0)
    assert [budget.spend(t) for t in (0.0, 1.0, 2.0)] == [False, False, False]
    assert budget.spend(3.0)  # the 4th within 10 s
    assert not budget.spend(10.5)  # a new window
    with pytest.raises(ValueError):
        RateBudget(1, 0)


# ---- streams ----

def test_open_streams_are_counted_without_keeping_closed_ones() -> None:
    pair = CorePair()
    for _ in range(500):
        cs, ss = pair.open()
        cs.queue_end()
        ss.queue_end(build_trailers(StatusCode.OK))
        pair.pump()
    for core in (pair.client, pair.server):
        assert core.h2.open_inbound_streams == 0 and core.h2.open_outbound_streams == 0
        assert len(core.h2.streams) < 70  # closed streams are dropped as they end
    held = [pair.open() for _ in range(50)]
    assert pair.server.h2.open_inbound_streams == 50
    assert pair.client.h2.open_outbound_streams == 50
    assert len(held) == 50


def test_excess_streams_are_refused_and_count_against_the_reset_budget() -> None:
    clock = Clock()
    core, started = server(WireSettings(max_concurrent_streams=2, max_stream_resets=3), clock)
    core.receive_data(b"".join(frame(HEADERS, END_HEADERS, sid, STATELESS)
                               for sid in (1, 3, 5, 7, 9)))
    assert started == [1, 3]
    out = sent(core)
    assert [(f.stream_id, f.error_code) for f in out if isinstance(f, RstStreamFrame)] == [
        (5, ErrorCodes.REFUSED_STREAM), (7, ErrorCodes.REFUSED_STREAM),
        (9, ErrorCodes.REFUSED_STREAM)]
    assert core.error is None and goaway_code(out) is None
    clock.now += 11  # a new window: three more are fine, the fourth is not
    core.receive_data(b"".join(frame(HEADERS, END_HEADERS, sid, STATELESS)
                               for sid in (11, 13, 15)))
    assert core.error is None
    core.receive_data(frame(HEADERS, END_HEADERS, 17, STATELESS))
    assert goaway_code(sent(core)) == ErrorCodes.ENHANCE_YOUR_CALM
    assert core.error is not None and "too many streams" in core.error.message
    assert started == [1, 3]


def test_peer_resets_exhaust_the_budget_and_end_the_connection() -> None:
    clock = Clock()
    core, started = server(WireSettings(max_stream_resets=10), clock)
    cancel = ErrorCodes.CANCEL.to_bytes(4, "big")
    for sid in range(1, 21, 2):  # 10 pairs: within the budget
        core.receive_data(frame(HEADERS, END_HEADERS, sid, STATELESS) + frame(RST, 0, sid, cancel))
    assert core.error is None and len(started) == 10 and not core.streams
    core.receive_data(frame(HEADERS, END_HEADERS, 21, STATELESS) + frame(RST, 0, 21, cancel))
    assert goaway_code(sent(core)) == ErrorCodes.ENHANCE_YOUR_CALM
    assert core.error is not None


def test_a_burst_of_new_streams_in_one_read_is_cut_off() -> None:
    core, started = server()  # default: 100 streams, so at most 200 new per read
    pairs = b"".join(frame(HEADERS, END_HEADERS, sid, STATELESS)
                     + frame(RST, 0, sid, ErrorCodes.CANCEL.to_bytes(4, "big"))
                     for sid in range(1, 2 * 250, 2))
    core.receive_data(pairs)
    assert goaway_code(sent(core)) == ErrorCodes.ENHANCE_YOUR_CALM
    assert core.error is not None and started == []  # none dispatched from that read


# ---- frames without payload ----

def test_empty_frame_flood_gets_goaway_while_parsing() -> None:
    core, _ = server(WireSettings(max_empty_frames=10))  # SETTINGS was the 1st
    core.receive_data(b"".join(frame(PING, 0, 0, bytes(8)) for _ in range(9)))
    assert core.error is None
    core.receive_data(b"".join(frame(PING, 0, 0, bytes(8)) for _ in range(1000)))
    out = sent(core)
    assert goaway_code(out) == ErrorCodes.ENHANCE_YOUR_CALM
    assert sum(isinstance(f, PingFrame) for f in out) == 9  # the flood was not answered


def test_empty_data_frames_count_but_end_stream_does_not() -> None:
    core, _ = server(WireSettings(max_empty_frames=6))  # SETTINGS was the 1st
    core.receive_data(frame(HEADERS, END_HEADERS, 1, STATELESS))
    core.receive_data(frame(0x0, 0, 1) * 5)
    assert core.error is None
    core.receive_data(frame(0x0, 0x1, 1))  # END_STREAM: progress
    assert core.error is None
    core.receive_data(frame(HEADERS, END_HEADERS, 3, STATELESS) + frame(0x0, 0, 3))
    assert goaway_code(sent(core)) == ErrorCodes.ENHANCE_YOUR_CALM


# ---- read pausing ----

@pytest.mark.parametrize("fast", [True, False])
def test_unwritten_control_replies_pause_reading(fast: bool) -> None:
    """On h2's path the PINGs are counted by their events, on the fast path
    by h2 itself (no event per PING): the same budget either way."""
    core, _ = server(WireSettings(max_empty_frames=10_000, h2_fast_path=fast))
    core.receive_data(frame(PING, 0, 0, bytes(8)) * 49)
    core.receive_data(frame(SETTINGS, 0, 0))  # its ACK counts too
    assert not core.reading_paused() and core.control_backlog == 50
    core.receive_data(frame(PING, 0, 0, bytes(8)))
    assert core.reading_paused()  # 51 ACKs queued, none written
    core.data_to_send()
    assert core.reading_paused()  # handed to the transport, not yet written
    core.receive_data(frame(PING, 0, 0, bytes(8)))
    core.confirm_written()
    assert not core.reading_paused() and core.control_backlog == 1


def test_unsent_replies_pause_reading() -> None:
    pair = CorePair()
    _, ss = pair.open()
    ss.queue_message(b"x" * (MiB // 4))
    assert not pair.server.reading_paused()
    ss.queue_message(b"x" * (MiB // 4))
    assert pair.server.reading_paused()  # > 512 KiB queued for the peer
    pair.pump()
    assert not pair.server.reading_paused()


def test_unread_messages_pause_reading_until_read() -> None:
    pair = CorePair()
    drained: list[bool] = []
    pair.server.on_inbound_drained = lambda: drained.append(True)
    cs, ss = pair.open()
    for _ in range(3):
        cs.queue_message(b"y" * (MiB // 2))
    pair.pump()
    assert pair.server.inbound_bytes == 3 * (MiB // 2)
    assert pair.server.inbound_full
    ss.pop_message()
    assert not pair.server.inbound_full and drained == [True]
    ss.pop_message()
    ss.pop_message()
    assert pair.server.inbound_bytes == 0


def test_unread_messages_of_a_reset_stream_stop_counting() -> None:
    pair = CorePair()
    cs, _ = pair.open()
    cs.queue_message(b"z" * (2 * MiB))
    pair.pump()
    assert pair.server.inbound_full
    pair.client.reset_stream(cs)
    pair.pump()
    assert pair.server.inbound_bytes == 0 and not pair.server.inbound_full


def test_output_waiting_for_a_window_keeps_reading() -> None:
    # the server's reply waits for the client's window; messages pile up
    # unread: reading must go on, or the WINDOW_UPDATE never gets in
    pair = CorePair(client_settings=WireSettings(stream_window=65535,
                                                 connection_window=65535))
    cs, ss = pair.open()
    for _ in range(20):  # the client reads none: its window closes
        ss.queue_message(b"r" * 10_000)
    for _ in range(3):
        cs.queue_message(b"q" * (MiB // 2))
    pair.pump()
    assert pair.server.inbound_bytes > MiB and ss.moved < ss.queued
    assert not pair.server.inbound_full
    while cs.has_message:  # the client reads: the replies flow, and then
        cs.pop_message()   # the server stops reading until its handler reads
        pair.pump()
    assert ss.moved == ss.queued
    assert pair.server.inbound_full


# ---- CONTINUATION ----

def test_a_header_block_is_bounded_while_continuation_frames_arrive() -> None:
    core, started = server()  # 64 KiB header list: the block may reach 4 x + 16 KiB
    core.receive_data(frame(HEADERS, 0, 1, BLOCK[:5]))
    chunk = frame(CONTINUATION, 0, 1, bytes(100_000))
    core.receive_data(chunk)
    core.receive_data(chunk)
    assert core.error is None
    core.receive_data(chunk)  # 300 kB > 4 x 64 KiB + 16 KiB
    assert goaway_code(sent(core)) == ErrorCodes.ENHANCE_YOUR_CALM
    assert core.error is not None and started == []
    assert not core.h2.incoming_buffer._headers_buffer or core.error is not None


def test_a_client_never_pauses_reading() -> None:
    # two peers that both stop reading while their writes block would wait
    # for each other forever: the backlogs are a server defence
    pair = CorePair()
    cs, ss = pair.open()
    cs.queue_message(b"c" * MiB)
    for _ in range(3):
        ss.queue_message(b"s" * (MiB // 2))
    pair.pump()
    assert pair.client.inbound_bytes > MiB and not pair.client.inbound_full
    cs.queue_message(b"c" * MiB)
    assert not pair.client.reading_paused()


# ---- SETTINGS_MAX_HEADER_LIST_SIZE ----

def _metadata_headers(size: int) -> list[tuple[bytes, bytes]]:
    return [*request_headers(), (b"x-big", b"m" * size)]


def test_a_raised_header_list_limit_is_applied_to_the_decoder() -> None:
    # h2 alone kept its 64 KiB default whatever we advertised
    pair = CorePair(server_settings=WireSettings(max_header_list_size=1 << 20))
    install(pair.client.h2)  # linear-time HPACK (hpack's own is quadratic)
    pair.client.open_stream(_metadata_headers(200_000))
    pair.pump()
    assert pair.server.error is None
    (_, headers), = pair.requests
    assert (b"x-big", b"m" * 200_000) in headers


def test_a_lowered_header_list_limit_is_enforced() -> None:
    seen: list[bytes] = []
    pair = CorePair(server_settings=WireSettings(max_header_list_size=4096),
                    tap=lambda direction, data: seen.append(data) if direction == "s2c" else None)
    pair.client.open_stream(_metadata_headers(3000))  # within: served
    pair.pump()
    assert pair.server.error is None and len(pair.requests) == 1
    pair.client.open_stream(_metadata_headers(8000))  # above 4 KiB: refused
    pair.pump()
    assert len(pair.requests) == 1 and pair.server.error is not None
    goaways = [f for data in seen for f in parse_frames(data) if isinstance(f, GoAwayFrame)]
    assert [f.error_code for f in goaways] == [ErrorCodes.ENHANCE_YOUR_CALM]


# ---- bounded work per read ----

def test_a_read_is_processed_in_steps_of_at_most_200_frames() -> None:
    core, _ = server(WireSettings(max_empty_frames=10**9))
    pings = b"".join(frame(PING, 0, 0, i.to_bytes(8, "big")) for i in range(1000))
    answered = 0
    # reads cut at odd offsets: h2 holds part of a frame (or of its header)
    for cut in (17 * 300 + 5, 17 * 700 + 11):
        for data in (pings[:cut], pings[cut:]):
            steps = []
            rest = data
            while rest:
                left = core.receive_step(rest)
                steps.append(len(rest) - len(left))
                rest = left
            assert all(step <= 200 * 17 + 17 for step in steps), steps
            answered += sum(isinstance(f, PingFrame) for f in sent(core))
    assert answered == 2000 and core.error is None
