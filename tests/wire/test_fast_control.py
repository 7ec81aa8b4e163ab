"""PING, PING ACK and WINDOW_UPDATE on the fast path
(gorums_h2/wire/_h2.py) behave exactly as h2 does, and their ACKs may wait.

Differential tests like test_fast_data.py: the same bytes go into a core with
the fast path on and off, cut at arbitrary points, and everything observable
must be identical: the bytes the core sends (its PING ACKs, and the queued
request that waits for window, sent when the core asks for a write), the
messages and PING ACKs it receives, its outbound window, its count of control
replies not yet written, its error, and h2's events but ``PingReceived`` and
``WindowUpdated`` (the fast path counts and flags those instead). Frames h2
rejects (a PING on a stream, of the wrong length, a zero or overflowing
increment) are among the generated ones.
"""

from __future__ import annotations

import struct
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

WIRE = WireSettings(stream_window=65535, connection_window=65535, max_frame_size=16384)
BDP_PING = bytes.fromhex("02041010090e0707")


def _frame(ftype: int, flags: int, sid: int, body: bytes) -> bytes:
    return struct.pack(">BHBBL", len(body) >> 16, len(body) & 0xFFFF, ftype, flags, sid) + body


def ping(opaque: bytes = BDP_PING, *, ack: bool = False, sid: int = 0) -> bytes:
    return _frame(0x6, 0x1 if ack else 0x0, sid, opaque)


def window_update(increment: int, sid: int = 0) -> bytes:
    return _frame(0x8, 0x0, sid, struct.pack(">L", increment))


def _server_prefix() -> tuple[bytes, int]:
    """What an h2 server says first (SETTINGS), and a stream id for DATA."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    return conn.data_to_send(), 1


# control frames as a peer might send them
VALID = [
    ping(), ping(b"\x00" * 8), ping(BDP_PING, ack=True), ping(b"12345678", ack=True),
    _frame(0x6, 0xF0, 0, BDP_PING),  # unknown flags, ignored by h2
    window_update(1), window_update(15), window_update(65535), window_update(1 << 20),
    window_update(10, sid=1),
    window_update(1 << 20) + window_update(100, sid=1),  # both windows: a request may go on
]
# ... and ones h2 rejects, or answers by resetting the stream
CONTROL = [
    *VALID,
    window_update(2**31 - 1, sid=1),  # overflows the stream's window
    window_update(10, sid=3), window_update(10, sid=2),  # unknown streams
    window_update(0, sid=1), ping(sid=1),
    _frame(0x6, 0, 0, b"1234567"), _frame(0x6, 0, 0, b"123456789"),
    window_update(0), window_update(2**31 - 1), window_update(0x80000005),
    _frame(0x8, 0, 0, b"\x00\x01"),
]


# h2 events the fast path replaces by counters and a flag (H2Connection.
# ping_acks_queued, window_opened): compared through their effects
COUNTED = ("PingReceived", "WindowUpdated")


def _event(event: object) -> tuple[object, ...]:
    """What an h2 event says, a FastData as the DataReceived it stands for."""
    name = "DataReceived" if isinstance(event, _h2.FastData) else type(event).__name__
    fields = ("stream_id", "data", "flow_controlled_length", "delta", "ping_data")
    return (name, *(getattr(event, f, None) for f in fields))


def _client_receives(fast: bool, reads: list[bytes], request: int = 0
                     ) -> tuple[bytes, list[bytes], list[bytes], int, str | None,
                                list[tuple[object, ...]], list[int], int]:
    """A client core with one open stream receives ``reads`` (after the
    server's SETTINGS); returns its output, messages, PING ACKs, outbound
    window, error, h2's events (but COUNTED), its control replies not yet
    written after each read, and how often it called ``on_output``.

    ``request``: the client first queues a request of that many bytes,
    which waits for the server's WINDOW_UPDATEs beyond 64 KiB; like a
    driver, the test flushes only when the core asked for a write
    (``on_output``, ``on_control_output``)."""
    core = ConnectionCore(client_side=True, settings=replace(WIRE, h2_fast_path=fast))
    acks: list[bytes] = []
    outputs = [0]
    woken = [False]
    core.on_ping_ack = acks.append
    core.initiate()
    stream = core.open_stream(request_headers())
    if request:
        stream.queue_message(bytes(request))
    core.flush()
    out = bytearray(core.data_to_send())

    def on_output() -> None:
        outputs[0] += 1
        woken[0] = True

    core.on_output = on_output
    core.on_control_output = lambda: woken.__setitem__(0, True)
    events: list[tuple[object, ...]] = []
    backlog: list[int] = []
    receive = core.h2.receive_data

    def recording(data: bytes) -> list[object]:
        got = receive(data)
        events.extend(_event(e) for e in got if type(e).__name__ not in COUNTED)
        return got

    core.h2.receive_data = recording  # type: ignore[method-assign]
    prefix, _ = _server_prefix()
    for data in [prefix, *reads]:
        core.receive_data(data)
        if core.error is None:  # (h2's path loses the events of a failing read)
            backlog.append(core.control_backlog)
        if woken[0]:
            woken[0] = False
            core.flush()
            out += core.data_to_send()
            core.confirm_written()
    got = drain(stream)
    error = None if core.error is None else str(core.error)
    window = core.h2.outbound_flow_control_window
    return bytes(out), got, acks, window, error, events, backlog, outputs[0]


def _response(sid: int, bodies: list[bytes]) -> list[bytes]:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False,
                                                                header_encoding=None))
    conn.initiate_connection()
    conn.receive_data(_client_preface_and_request(sid))
    conn.data_to_send()
    conn.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/grpc")])
    pieces = [conn.data_to_send()]
    for body in bodies:
        conn.send_data(sid, encode_message(body))
        pieces.append(conn.data_to_send())
    return pieces


def _client_preface_and_request(sid: int) -> bytes:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(sid, request_headers())
    return conn.data_to_send()


def _cut(pieces: list[bytes], groups: list[int], chunk: int | None) -> list[bytes]:
    """Reads of ``groups[i]`` whole pieces each (cycling), or ``chunk``-byte reads."""
    data = b"".join(pieces)
    if chunk is not None:
        return [data[pos : pos + chunk] for pos in range(0, len(data), chunk)]
    reads = []
    i = 0
    while i < len(pieces):
        n = groups[len(reads) % len(groups)]
        reads.append(b"".join(pieces[i : i + n]))
        i += n
    return reads


@settings(max_examples=200, deadline=None)
@given(
    control=st.lists(st.lists(st.sampled_from(CONTROL), max_size=3), min_size=1, max_size=6),
    groups=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    chunk=st.one_of(st.none(), st.sampled_from([1, 7, 9, 17, 26, 100])),
    request=st.sampled_from([0, 10, 70_000]),
)
def test_control_frames_match_h2(control: list[list[bytes]], groups: list[int],
                                 chunk: int | None, request: int) -> None:
    """Replies interleaved with control frames, as grpc-go sends them, in
    reads of whole frames (where the fast path applies) or cut anywhere;
    with a request waiting for the window those frames open, or none."""
    bodies = [bytes([i]) * (i * 7) for i in range(len(control))]
    head, *data = _response(1, bodies)
    pieces = []
    for frames, reply in zip(control, data, strict=True):
        pieces += [*frames, reply]
    reads = [head, *_cut(pieces, groups, chunk)]
    fast = _client_receives(True, reads, request)
    slow = _client_receives(False, reads, request)
    assert fast[:7] == slow[:7]
    if all(frame in VALID for frames in control for frame in frames):
        assert fast[4] is None and fast[1] == bodies


def test_the_fast_path_is_taken_for_control_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """So that the differential test compares two different paths; and the
    ACKs it queued leave through on_control_output, not on_output."""
    general: list[bytes] = []  # what reaches h2's own receive_data
    original = h2.connection.H2Connection.receive_data

    def spy(self: h2.connection.H2Connection, data: bytes) -> list[object]:
        general.append(bytes(data))
        return original(self, data)

    monkeypatch.setattr(h2.connection.H2Connection, "receive_data", spy)
    pair = CorePair(WIRE, WIRE)
    cs, ss = pair.open()
    ss.queue_message(b"x")
    pair.pump()
    assert drain(cs) == [b"x"]
    woken: list[str] = []
    pair.client.on_output = lambda: woken.append("output")
    pair.client.on_control_output = lambda: woken.append("control")
    general.clear()
    pair.client.receive_data(window_update(100) + ping() + ping(b"pingpong", ack=True)
                             + window_update(7, sid=cs.stream_id))
    assert general == []
    assert woken == ["control"]
    assert pair.client.output_can_wait
    cs.queue_message(b"next")
    pair.client.flush()
    assert not pair.client.output_can_wait
    out = pair.client.data_to_send()
    ack = ping(ack=True)
    assert out.startswith(ack) and len(out) > len(ack)  # the ACK, then the message


def test_other_output_in_the_same_read_wakes_the_writer_at_once() -> None:
    """PING ACKs wait only when they are all there is: here h2 rejects the
    second PING, and its GOAWAY goes out at once."""
    pair = CorePair(WIRE, WIRE)
    pair.open()
    woken: list[str] = []
    pair.client.on_output = lambda: woken.append("output")
    pair.client.on_control_output = lambda: woken.append("control")
    pair.client.receive_data(ping() + ping(b"\x01" * 8, sid=1))
    assert pair.client.error is not None and woken[-1] == "output"
    assert "control" not in woken


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("cut", [None, 7])
def test_a_ping_after_data_is_not_an_empty_frame(fast: bool, cut: int | None) -> None:
    """grpc-go's per-message BDP PING (WINDOW_UPDATE, PING, DATA per reply)
    never counts against ``max_empty_frames``, on the fast path and on h2's
    (every read cut into 7-byte pieces); PINGs with no DATA in between do."""
    budget = WireSettings(stream_window=65535, connection_window=65535, max_frame_size=16384,
                          max_empty_frames=5, h2_fast_path=fast)
    rounds = 50
    head, *data = _response(1, [b"r%d" % i for i in range(rounds)])
    pieces = [p for reply in data for p in (window_update(len(reply)), ping(), reply)]

    def run(reads: list[bytes]) -> ConnectionCore:
        core = ConnectionCore(client_side=True, settings=budget)
        assert core.h2.fast_path is fast
        core.initiate()
        stream = core.open_stream(request_headers())
        for read in [_server_prefix()[0], head, *reads]:
            core.receive_data(read)
            core.data_to_send()
        assert len(drain(stream)) == rounds or core.error is not None
        return core

    steady = run(_cut(pieces, [3], cut))
    assert steady.error is None  # 50 PINGs, budget 5 (the SETTINGS spent one)
    flood = run(_cut(pieces[:6] + [ping(b"%08d" % i) for i in range(6)], [1], cut))
    assert flood.error is not None and "without payload" in str(flood.error)


def test_only_grpc_go_bdp_acks_are_marked() -> None:
    """``bdp_acks_queued`` counts ACKs of grpc-go's BDP PING only (they may
    wait longest for a write); any other PING's ACK ends ``only_bdp_acks_queued``."""
    pair = CorePair(WIRE, WIRE)
    pair.open()
    h2c = pair.client.h2
    pair.client.receive_data(ping() + ping())
    assert h2c.bdp_acks_queued == h2c.ping_acks_queued == 2 and h2c.only_bdp_acks_queued
    pair.client.receive_data(ping(b"keepaliv"))
    assert h2c.ping_acks_queued == 3 and not h2c.only_bdp_acks_queued
    assert pair.client.output_can_wait  # still only PING ACKs: may join the next message
    pair.client.data_to_send()
    assert h2c.bdp_acks_queued == h2c.ping_acks_queued == 0
