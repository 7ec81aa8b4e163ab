"""The DATA fast path (gorums_h2/wire/_h2.py) behaves exactly as h2 does.

Differential tests: the same scenario runs with the fast path on and off,
and everything observable must be identical: the bytes each side sends, the
messages received, the flow-control windows, and the errors.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import h2.config
import h2.connection
import pytest
from core_pair import CorePair, drain, request_headers
from hypothesis import given, settings
from hypothesis import strategies as st

from gorums_h2.wire import _h2
from gorums_h2.wire.framing import encode_message
from gorums_h2.wire.protocol import ConnectionCore
from gorums_h2.wire.settings import WireSettings

SMALL = WireSettings(stream_window=65535, connection_window=65535, max_frame_size=16384)
LARGE = WireSettings()


def _run_pair(fast: bool, sizes: list[int], chunks: list[int], wire: WireSettings
              ) -> tuple[bytes, bytes, list[bytes], list[int]]:
    pair = CorePair(replace(wire, h2_fast_path=fast), replace(wire, h2_fast_path=fast))
    client_stream, server_stream = pair.open()
    for n in sizes:
        client_stream.queue_message(bytes([n % 251]) * n)
    c2s = bytearray()
    s2c = bytearray()
    received: list[bytes] = []
    cut = itertools.cycle(chunks or [1 << 20])
    for _ in range(100_000):
        pair.client.flush()
        data = pair.client.data_to_send()
        pair.client.confirm_written()
        c2s += data
        pos = 0
        while pos < len(data):
            size = next(cut)
            pair.server.receive_data(data[pos : pos + size])
            pos += size
        received += drain(server_stream)
        pair.server.flush()
        back = pair.server.data_to_send()
        pair.server.confirm_written()
        s2c += back
        pair.client.receive_data(back)
        if not data and not back:
            break
    windows = [
        pair.server.h2._inbound_flow_control_window_manager.current_window_size,
        pair.client.h2.outbound_flow_control_window,
        pair.client.h2.local_flow_control_window(client_stream.stream_id),
    ]
    return bytes(c2s), bytes(s2c), received, windows


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 70_000), max_size=8),
    chunks=st.lists(st.integers(1, 40_000), max_size=6),
    small=st.booleans(),
)
def test_sending_and_receiving_match_h2_byte_for_byte(
        sizes: list[int], chunks: list[int], small: bool) -> None:
    wire = SMALL if small else LARGE
    fast = _run_pair(True, sizes, chunks, wire)
    slow = _run_pair(False, sizes, chunks, wire)
    assert fast == slow
    assert fast[2] == [bytes([n % 251]) * n for n in sizes]


def _h2_client_bytes(frames: list[tuple[bytes, int | None, bool]]) -> bytes:
    """What a plain h2 client sends: a request, then DATA frames
    (payload, pad_length, end_stream) — padding and END_STREAM included."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.MAX_FRAME_SIZE: 16384})
    conn.local_settings.acknowledge()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, request_headers())
    for payload, pad, end in frames:
        conn.send_data(sid, payload, end_stream=end, pad_length=pad)
    return conn.data_to_send()


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(
        st.tuples(st.integers(0, 9000), st.one_of(st.none(), st.integers(0, 40))),
        min_size=1, max_size=6),
    end=st.booleans(),
    chunk=st.integers(1, 3000),
)
def test_padded_and_final_frames_take_h2s_path_with_the_same_result(
        parts: list[tuple[int, int | None]], end: bool, chunk: int) -> None:
    body = b"".join(encode_message(bytes([i]) * n) for i, (n, _) in enumerate(parts))
    # cut the framed messages into DATA payloads of the generated sizes
    frames: list[tuple[bytes, int | None, bool]] = []
    pos = 0
    for i, (_, pad) in enumerate(parts):
        size = len(body) // len(parts) if i < len(parts) - 1 else len(body) - pos
        frames.append((body[pos : pos + size], pad, end and i == len(parts) - 1))
        pos += size
    wire_bytes = _h2_client_bytes(frames)

    def receive(fast: bool) -> tuple[list[bytes], bytes, str | None]:
        server = ConnectionCore(client_side=False, settings=replace(SMALL, h2_fast_path=fast))
        streams = []
        server.on_request = lambda stream, headers: streams.append(stream)
        server.initiate()
        server.data_to_send()
        for pos in range(0, len(wire_bytes), chunk):
            server.receive_data(wire_bytes[pos : pos + chunk])
        got = drain(streams[0]) if streams else []
        error = None if server.error is None else str(server.error)
        return got, server.data_to_send(), error

    assert receive(True) == receive(False)


def test_a_window_violation_is_h2s_flow_control_error_either_way() -> None:
    """A peer that overruns our window: h2 decides, fast path or not."""
    results = []
    for fast in (True, False):
        server = ConnectionCore(client_side=False, settings=replace(SMALL, h2_fast_path=fast))
        server.on_request = lambda stream, headers: None
        server.initiate()
        server.data_to_send()
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, request_headers())
        data = conn.data_to_send()
        # 5 DATA frames of 16 KiB: more than the 65535-byte windows allow
        frame = (16384).to_bytes(3, "big") + b"\x00\x00" + sid.to_bytes(4, "big")
        data += (frame + b"\x00" * 16384) * 5
        server.receive_data(data)
        results.append(str(server.error))
    assert results[0] == results[1] and "flow control" in results[0].lower()


@pytest.mark.parametrize("fast", [True, False])
def test_data_for_a_reset_stream_still_returns_connection_credit(fast: bool) -> None:
    pair = CorePair(replace(SMALL, h2_fast_path=fast), replace(SMALL, h2_fast_path=fast))
    cs, ss = pair.open()
    pair.server.reset_stream(ss)
    pair.pump()
    for _ in range(20):  # far more than one connection window in total
        if cs.local_closed:
            break
        cs.queue_message(b"z" * 8000)
        pair.pump()
    cs2, ss2 = pair.open()
    cs2.queue_message(b"after")
    pair.pump()
    assert drain(ss2) == [b"after"]


def test_the_fast_path_is_taken_for_plain_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """So that the differential tests above compare two different paths."""
    taken: list[int] = []
    original = _h2.FastData.__init__

    def spy(self: _h2.FastData, stream_id: int, data: bytes, length: int) -> None:
        taken.append(length)
        original(self, stream_id, data, length)

    monkeypatch.setattr(_h2.FastData, "__init__", spy)
    sent: list[int] = []
    original_fast_send = _h2.H2Connection.send_data_fast

    def send_spy(self: _h2.H2Connection, sid: int, data: bytes | memoryview) -> None:
        sent.append(len(data))
        original_fast_send(self, sid, data)

    monkeypatch.setattr(_h2.H2Connection, "send_data_fast", send_spy)
    monkeypatch.setattr(_h2.H2Connection, "send_data", lambda *a, **k: pytest.fail("slow send"))
    pair = CorePair(LARGE, LARGE)
    cs, ss = pair.open()
    cs.queue_message(b"hello")
    pair.pump()
    assert drain(ss) == [b"hello"]
    assert taken == [10] and sent == [10]


@settings(max_examples=150, deadline=None)
@given(
    window=st.sampled_from([65535, 100_000]),
    ops=st.lists(st.tuples(st.integers(0, 40_000), st.sampled_from([1, 1, 1, 3]),
                           st.booleans()), max_size=40),
)
def test_acknowledge_matches_h2(window: int, ops: list[tuple[int, int, bool]]) -> None:
    """The fast acknowledgement (only counting bytes when no WINDOW_UPDATE is
    due) leaves h2's window managers and output exactly as h2's own
    ``acknowledge_received_data`` does: received bytes consumed from the
    windows, then acknowledged, on the open stream or an unknown one, with
    the stream closed half-way (``close``)."""
    outcomes = []
    for fast in (True, False):
        wire = WireSettings(stream_window=window, connection_window=65535,
                            max_frame_size=16384, h2_fast_path=fast)
        pair = CorePair(wire, wire)
        client_stream, _ = pair.open()
        h2c = pair.server.h2
        assert h2c.fast_path is fast
        sid = client_stream.stream_id
        conn_window = h2c._inbound_flow_control_window_manager
        seen = []
        for size, stream_id, close in ops:
            stream = h2c.streams.get(stream_id)
            size = min(size, conn_window.current_window_size,
                       stream._inbound_window_manager.current_window_size
                       if stream is not None else size)
            conn_window.window_consumed(size)
            if stream is not None:
                stream._inbound_window_manager.window_consumed(size)
            if close and stream_id == sid and not h2c.streams[sid].closed:
                h2c.reset_stream(sid)
            try:
                woke: object = h2c.acknowledge(size, stream_id)
            except Exception as exc:  # h2's NoSuchStreamError for stream 3
                woke = type(exc)
            managers = [conn_window] + ([h2c.streams[sid]._inbound_window_manager]
                                        if sid in h2c.streams else [])
            seen.append((woke, bytes(h2c.data_to_send()),
                         [(m.current_window_size, m._bytes_processed) for m in managers]))
        outcomes.append(seen)
    assert outcomes[0] == outcomes[1]


def test_messages_taken_from_a_view_of_the_read_are_bytes() -> None:
    """The fast path hands the decoder a view of the read buffer, not a copy;
    each message still comes out as its own ``bytes`` (one copy), in both
    modes, whole frames or split ones."""
    for fast in (True, False):
        settings = replace(SMALL, h2_fast_path=fast)
        pair = CorePair(settings, settings)
        cs, ss = pair.open()
        for n in (0, 10, 5000, 40_000):
            cs.queue_message(bytes([n % 251]) * n)
        pair.pump()
        got = drain(ss)
        assert [len(m) for m in got] == [0, 10, 5000, 40_000]
        assert {type(m) for m in got} == {bytes}
