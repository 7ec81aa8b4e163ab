"""ConnectionCore/StreamCore driven sans-IO: a client core and a server core
exchanging bytes in memory (no sockets, no event loop)."""

from __future__ import annotations

import gzip
import struct

import h2.exceptions
import pytest
from core_pair import CorePair, drain, parse_frames, request_headers
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame

from gorums_h2.wire.errors import (
    ConnectionBroken,
    EndOfStream,
    GoAwayError,
    MessageTooLarge,
    ProtocolViolation,
    StreamClosed,
    StreamReset,
)
from gorums_h2.wire.headers import build_response_headers, build_trailers
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.protocol import ConnectionCore
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.status import StatusCode, StatusError

SMALL = WireSettings(stream_window=65535, connection_window=65535)


def test_bidi_exchange_and_clean_end() -> None:
    pair = CorePair()
    cs, ss = pair.open(metadata=Metadata({"k": "v"}), subtype="gorums")
    for i in range(3):
        cs.queue_message(b"req%d" % i)
    pair.pump()
    assert drain(ss) == [b"req0", b"req1", b"req2"]
    ss.response_headers = build_response_headers("gorums", Metadata({"srv": "1"}))
    ss.queue_message(b"rep")
    pair.pump()
    assert cs.initial_metadata == Metadata({"srv": "1"})
    assert drain(cs) == [b"rep"]
    cs.queue_end()
    pair.pump()
    with pytest.raises(EndOfStream):
        ss.pop_message()
    ss.queue_end(build_trailers(StatusCode.OK, metadata=Metadata({"t": "x"})))
    pair.pump()
    with pytest.raises(EndOfStream):
        cs.pop_message()
    assert cs.status is None
    assert cs.trailing_metadata == Metadata({"t": "x"})
    assert pair.client.streams == {} and pair.server.streams == {}


def test_pop_message_before_anything_arrived_is_index_error() -> None:
    pair = CorePair()
    cs, _ = pair.open()
    with pytest.raises(IndexError):
        cs.pop_message()


def test_many_streams_keep_their_own_order() -> None:
    pair = CorePair()
    streams = [pair.open() for _ in range(5)]
    for n in range(20):
        for i, (cs, _) in enumerate(streams):
            cs.queue_message(b"%d:%d" % (i, n))
    pair.pump()
    for i, (_, ss) in enumerate(streams):
        assert drain(ss) == [b"%d:%d" % (i, n) for n in range(20)]
    assert [cs.stream_id for cs, _ in streams] == [1, 3, 5, 7, 9]


def test_large_messages_cross_frames_intact_and_in_order() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    bodies = [bytes([i]) * (100_000 + i) for i in range(1, 5)] + [b""]
    for b in bodies:
        cs.queue_message(b)
    pair.pump()
    assert drain(ss) == bodies


def test_small_windows_bound_the_sender_until_the_reader_consumes() -> None:
    pair = CorePair(SMALL, SMALL)
    cs, ss = pair.open()
    bodies = [bytes([i]) * 50_000 for i in range(10)]
    for b in bodies:
        cs.queue_message(b)
    pair.pump()
    # at most one window's worth crossed before anybody read
    assert cs.moved <= 65535 < cs.queued
    got: list[bytes] = []
    while len(got) < len(bodies):
        before = len(got)
        got += drain(ss)
        pair.pump()
        assert len(got) > before, "flow stalled although the reader consumed everything"
    assert got == bodies
    assert cs.moved == cs.written == cs.queued


def test_data_is_acknowledged_only_as_it_is_consumed() -> None:
    pair = CorePair(SMALL, SMALL)
    cs, ss = pair.open()
    cs.queue_message(b"x" * 30_000)
    cs.queue_message(b"y" * 30_000)
    pair.pump()
    sid = cs.stream_id
    assert pair.client.h2.local_flow_control_window(sid) < 10_000
    ss.pop_message()
    pair.pump()
    assert pair.client.h2.local_flow_control_window(sid) < 10_000  # one still queued
    ss.pop_message()
    pair.pump()
    assert pair.client.h2.local_flow_control_window(sid) == 65535


def assert_connection_window_restored(pair: CorePair) -> None:
    """The server can again fill the whole connection window on a new stream."""
    assert pair.server.h2.outbound_flow_control_window == 65535
    cs2, ss2 = pair.open()
    ss2.queue_message(b"b" * 30_000)
    ss2.queue_message(b"c" * 30_000)
    pair.pump()  # nobody reads in between: both must fit at once
    assert drain(cs2) == [b"b" * 30_000, b"c" * 30_000]


def test_unread_data_of_a_cancelled_stream_is_returned_to_the_connection() -> None:
    pair = CorePair(SMALL, SMALL)
    cs, ss = pair.open()
    ss.queue_message(b"a" * 60_000)  # client never reads it
    pair.pump()
    assert cs.has_message
    pair.client.reset_stream(cs)
    pair.pump()
    # the connection window must not stay consumed by the abandoned data
    assert_connection_window_restored(pair)


def test_unread_data_of_a_finished_stream_is_returned_to_the_connection() -> None:
    pair = CorePair(SMALL, SMALL)
    cs, ss = pair.open()
    ss.queue_message(b"a" * 60_000)
    ss.queue_end(build_trailers(StatusCode.OK))
    pair.pump()
    assert pair.client.streams == {}  # over, but its message was never read
    assert_connection_window_restored(pair)
    # reading the old message later does not acknowledge twice
    assert drain(cs) == [b"a" * 60_000]
    with pytest.raises(EndOfStream):
        cs.pop_message()
    pair.pump()


def test_data_arriving_after_a_local_reset_is_acknowledged() -> None:
    pair = CorePair(SMALL, SMALL)
    cs, ss = pair.open()
    ss.queue_message(b"a" * 60_000)
    pair.server.flush()
    in_flight = pair.server.data_to_send()
    pair.server.confirm_written()
    pair.client.reset_stream(cs)  # the reset crosses the data on the wire
    pair.client.receive_data(in_flight)
    pair.pump()
    assert_connection_window_restored(pair)


def test_write_is_confirmed_for_a_stream_that_ended_while_it_was_written() -> None:
    # the reply (trailers) is processed while our last write is still in flight;
    # the writer's confirmation must still reach the finished stream's senders
    pair = CorePair()
    cs, ss = pair.open()
    ticket = cs.queue_message(b"x")
    pair.client.flush()
    in_flight = pair.client.data_to_send()
    ss.queue_end(build_trailers(StatusCode.FAILED_PRECONDITION, "no"))
    pair.transfer(pair.server, pair.client)
    assert pair.client.streams == {}
    pair.client.confirm_written()
    assert cs.written == cs.moved == ticket
    pair.server.receive_data(in_flight)


def test_thousands_of_small_messages_with_small_windows() -> None:
    pair = CorePair(SMALL, SMALL)
    cs, ss = pair.open()
    got: list[bytes] = []
    for i in range(5000):
        cs.queue_message(b"%05d" % i)
        if i % 500 == 499:
            pair.pump()
            got += drain(ss)
    pair.pump()
    got += drain(ss)
    assert got == [b"%05d" % i for i in range(5000)]


def test_a_stalled_reader_does_not_block_other_streams() -> None:
    conn = WireSettings(stream_window=65535, connection_window=1024 * 1024)
    pair = CorePair(conn, conn)
    stalled, _ = pair.open()
    live, live_srv = pair.open()
    for _ in range(4):
        stalled.queue_message(b"s" * 30_000)  # the server never reads these
    pair.pump()
    for i in range(50):
        live.queue_message(b"%d" % i * 2000)
        pair.pump()
        assert live_srv.pop_message() == b"%d" % i * 2000


def test_send_limit_refuses_locally_and_keeps_the_stream() -> None:
    pair = CorePair(WireSettings(max_send_message_size=10))
    cs, ss = pair.open()
    with pytest.raises(MessageTooLarge) as info:
        cs.queue_message(b"x" * 11)
    assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
    cs.queue_message(b"x" * 10)
    pair.pump()
    assert drain(ss) == [b"x" * 10]


def test_oversized_reply_fails_the_client_stream_only() -> None:
    pair = CorePair(WireSettings(max_receive_message_size=1000))
    cs, ss = pair.open()
    ss.queue_message(b"z" * 1001)
    pair.pump()
    with pytest.raises(MessageTooLarge) as info:
        cs.pop_message()
    assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(StreamReset) as reset:
        ss.pop_message()  # the client cancelled the stream
    assert reset.value.h2_code == ErrorCodes.CANCEL
    cs2, ss2 = pair.open()
    ss2.queue_message(b"z" * 1000)
    pair.pump()
    assert drain(cs2) == [b"z" * 1000]


def test_oversized_request_reaches_the_server_stream_as_resource_exhausted() -> None:
    pair = CorePair(server_settings=WireSettings(max_receive_message_size=1000))
    cs, ss = pair.open()
    cs.queue_message(b"z" * 5000)
    pair.pump()
    with pytest.raises(MessageTooLarge) as info:
        ss.pop_message()
    ss.queue_end(build_trailers(info.value.code, info.value.message))
    pair.pump()
    with pytest.raises(StatusError) as status:
        cs.pop_message()
    assert status.value.code == StatusCode.RESOURCE_EXHAUSTED
    # grpc-go's text (rpc_util.go), as a live Go v0.11 server answered 5 MiB
    assert status.value.message == "grpc: received message larger than max (5000 vs. 1000)"


def _raw_message(flag: int, body: bytes) -> bytes:
    return struct.pack(">BI", flag, len(body)) + body


def test_compressed_request_without_encoding_is_a_protocol_violation() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    pair.client.h2.send_data(cs.stream_id, _raw_message(1, b"abc"))
    pair.pump()
    with pytest.raises(ProtocolViolation) as info:
        ss.pop_message()
    assert info.value.code == StatusCode.INTERNAL


def test_compressed_reply_without_encoding_resets_the_stream() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    pair.server.h2.send_headers(ss.stream_id, build_response_headers(None))
    pair.server.h2.send_data(ss.stream_id, _raw_message(1, b"abc"))
    pair.pump()
    with pytest.raises(ProtocolViolation):
        cs.pop_message()
    with pytest.raises(StreamReset):
        ss.pop_message()


def test_gzip_reply_is_decompressed() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    headers = [*build_response_headers(None), (b"grpc-encoding", b"gzip")]
    pair.server.h2.send_headers(ss.stream_id, headers)
    pair.server.h2.send_data(ss.stream_id, _raw_message(1, gzip.compress(b"hello" * 100)))
    pair.server.h2.send_data(ss.stream_id, _raw_message(0, b"plain"))
    pair.pump()
    assert drain(cs) == [b"hello" * 100, b"plain"]


def test_trailers_only_response() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    ss.queue_end(build_trailers(StatusCode.UNIMPLEMENTED, "no such method",
                                metadata=Metadata({"why": "test"})))
    frames: list[tuple[str, bytes]] = []
    pair.tap = lambda d, data: frames.append((d, data))
    pair.pump()
    with pytest.raises(StatusError) as info:
        cs.pop_message()
    assert (info.value.code, info.value.message) == (StatusCode.UNIMPLEMENTED, "no such method")
    assert cs.initial_metadata == Metadata()
    assert cs.trailing_metadata == Metadata({"why": "test"})
    # one HEADERS with END_STREAM, then RST_STREAM(NO_ERROR), as grpc-go does
    s2c = [f for d, data in frames if d == "s2c" for f in parse_frames(data)]
    assert [type(f).__name__ for f in s2c] == ["HeadersFrame", "RstStreamFrame"]
    assert "END_STREAM" in s2c[0].flags
    assert isinstance(s2c[1], RstStreamFrame) and s2c[1].error_code == ErrorCodes.NO_ERROR
    assert pair.client.streams == {} and pair.server.streams == {}


def test_error_status_after_messages_with_details() -> None:
    from google.protobuf import any_pb2, wrappers_pb2

    detail = any_pb2.Any()
    detail.Pack(wrappers_pb2.StringValue(value="why"))
    pair = CorePair()
    cs, ss = pair.open()
    ss.queue_message(b"partial")
    ss.queue_end(build_trailers(StatusCode.ABORTED, "stop ü", [detail]))
    pair.pump()
    assert cs.pop_message() == b"partial"
    with pytest.raises(StatusError) as info:
        cs.pop_message()
    assert info.value == StatusError(StatusCode.ABORTED, "stop ü", [detail])
    assert cs.status == info.value


def test_stream_ended_without_trailers_is_a_protocol_violation() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    pair.server.h2.send_headers(ss.stream_id, build_response_headers(None))
    pair.server.h2.end_stream(ss.stream_id)
    pair.pump()
    with pytest.raises(ProtocolViolation, match="without trailers"):
        cs.pop_message()


def test_stream_ended_in_the_middle_of_a_message_is_a_protocol_violation() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    pair.server.h2.send_headers(ss.stream_id, build_response_headers(None))
    pair.server.h2.send_data(ss.stream_id, _raw_message(0, b"abcdef")[:-2])
    pair.server.h2.send_headers(ss.stream_id, build_trailers(0), end_stream=True)
    pair.pump()
    with pytest.raises(ProtocolViolation, match="middle of a message"):
        cs.pop_message()


@pytest.mark.parametrize(
    ("http_status", "code"),
    [(503, StatusCode.UNAVAILABLE), (404, StatusCode.UNIMPLEMENTED),
     (401, StatusCode.UNAUTHENTICATED), (418, StatusCode.UNKNOWN)],
)
def test_http_error_without_grpc_status_maps_the_http_status(
    http_status: int, code: StatusCode
) -> None:
    pair = CorePair()
    cs, ss = pair.open()
    headers = [(b":status", str(http_status).encode()), (b"content-type", b"text/plain")]
    pair.server.h2.send_headers(ss.stream_id, headers, end_stream=True)
    pair.pump()
    with pytest.raises(StatusError) as info:
        cs.pop_message()
    assert info.value.code == code


def test_http_error_headers_then_body_map_the_http_status() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    pair.server.h2.send_headers(ss.stream_id, [(b":status", b"502"),
                                               (b"content-type", b"text/html")])
    pair.server.h2.send_data(ss.stream_id, b"<html>bad gateway</html>", end_stream=True)
    pair.pump()
    with pytest.raises(StatusError) as info:
        cs.pop_message()
    assert info.value.code == StatusCode.UNAVAILABLE


def test_non_grpc_content_type_is_a_protocol_violation() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    pair.server.h2.send_headers(ss.stream_id, [(b":status", b"200"),
                                               (b"content-type", b"text/html")])
    pair.pump()
    with pytest.raises(ProtocolViolation, match="content-type"):
        cs.pop_message()


_RST_CASES = [
    (ErrorCodes.NO_ERROR, StatusCode.INTERNAL),
    (ErrorCodes.PROTOCOL_ERROR, StatusCode.INTERNAL),
    (ErrorCodes.INTERNAL_ERROR, StatusCode.INTERNAL),
    (ErrorCodes.FLOW_CONTROL_ERROR, StatusCode.INTERNAL),
    (ErrorCodes.STREAM_CLOSED, StatusCode.INTERNAL),
    (ErrorCodes.FRAME_SIZE_ERROR, StatusCode.INTERNAL),
    (ErrorCodes.REFUSED_STREAM, StatusCode.UNAVAILABLE),
    (ErrorCodes.CANCEL, StatusCode.CANCELLED),
    (ErrorCodes.COMPRESSION_ERROR, StatusCode.INTERNAL),
    (ErrorCodes.CONNECT_ERROR, StatusCode.INTERNAL),
    (ErrorCodes.ENHANCE_YOUR_CALM, StatusCode.RESOURCE_EXHAUSTED),
    (ErrorCodes.INADEQUATE_SECURITY, StatusCode.PERMISSION_DENIED),
    (ErrorCodes.HTTP_1_1_REQUIRED, StatusCode.INTERNAL),
]


@pytest.mark.parametrize(("h2_code", "code"), _RST_CASES)
def test_rst_stream_from_server_maps_to_status(h2_code: ErrorCodes, code: StatusCode) -> None:
    pair = CorePair()
    cs, ss = pair.open()
    pair.server.h2.reset_stream(ss.stream_id, h2_code)
    pair.pump()
    with pytest.raises(StreamReset) as info:
        cs.pop_message()
    assert (info.value.h2_code, info.value.code) == (h2_code, code)
    assert h2_code.name in info.value.message
    with pytest.raises(StreamReset):
        cs.queue_message(b"late")
    assert 1 not in pair.client.streams


def test_client_reset_no_error_ends_the_server_stream_cleanly() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    pair.client.h2.reset_stream(cs.stream_id, ErrorCodes.NO_ERROR)
    pair.pump()
    with pytest.raises(EndOfStream):
        ss.pop_message()


def test_client_cancel_reaches_the_server_as_cancelled() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    pair.client.reset_stream(cs)
    pair.pump()
    with pytest.raises(StreamReset) as info:
        ss.pop_message()
    assert info.value.code == StatusCode.CANCELLED
    # our own side sees a local close, not a reset by the peer
    with pytest.raises(StreamClosed) as closed:
        cs.pop_message()
    assert not isinstance(closed.value, StreamReset)
    assert closed.value.code == StatusCode.CANCELLED


def test_graceful_goaway_lets_processed_streams_finish() -> None:
    pair = CorePair()
    frames: list[tuple[str, bytes]] = []
    cs1, ss1 = pair.open()
    cs3 = pair.client.open_stream(request_headers())  # not yet seen by the server
    pair.server.send_goaway()
    pair.tap = lambda d, data: frames.append((d, data))
    pair.pump()
    goaways = [f for d, data in frames if d == "s2c" for f in parse_frames(data)
               if isinstance(f, GoAwayFrame)]
    assert [(g.last_stream_id, g.error_code) for g in goaways] == [(1, ErrorCodes.NO_ERROR)]
    # the stream above last_stream_id was not processed
    with pytest.raises(GoAwayError) as info:
        cs3.pop_message()
    assert info.value.code == StatusCode.UNAVAILABLE
    assert info.value.last_stream_id == 1
    assert len(pair.requests) == 1
    # new streams are refused at once
    with pytest.raises(GoAwayError):
        pair.client.open_stream(request_headers())
    # the in-flight stream finishes normally in both directions
    cs1.queue_message(b"after goaway")
    pair.pump()
    assert ss1.pop_message() == b"after goaway"
    ss1.queue_message(b"reply")
    ss1.queue_end(build_trailers(StatusCode.OK))
    pair.pump()
    assert cs1.pop_message() == b"reply"
    with pytest.raises(EndOfStream):
        cs1.pop_message()


def test_server_refuses_streams_after_its_goaway() -> None:
    pair = CorePair()
    pair.open()
    pair.server.send_goaway()
    pair.server.flush()
    pair.server.data_to_send()  # the GOAWAY is lost in transit, say
    cs = pair.client.open_stream(request_headers())
    pair.pump()
    with pytest.raises(StreamReset) as info:
        cs.pop_message()
    assert info.value.h2_code == ErrorCodes.REFUSED_STREAM
    assert info.value.code == StatusCode.UNAVAILABLE
    assert len(pair.requests) == 1


def test_a_second_goaway_lowers_last_stream_id() -> None:
    pair = CorePair()
    cs1, _ = pair.open()
    cs3, _ = pair.open()
    pair.server.h2.send_graceful_goaway(2**31 - 1)  # grpc-go's first GOAWAY
    pair.pump()
    assert cs3.end_error is None
    pair.server.h2.send_graceful_goaway(1)
    pair.pump()
    assert cs1.end_error is None
    with pytest.raises(GoAwayError):
        cs3.pop_message()


def test_goaway_with_error_fails_unprocessed_streams() -> None:
    pair = CorePair()
    cs1, _ = pair.open()
    cs3, _ = pair.open()
    pair.server.h2.close_connection(ErrorCodes.ENHANCE_YOUR_CALM, b"too_many_pings",
                                    last_stream_id=1)
    pair.pump()
    with pytest.raises(GoAwayError) as info:
        cs3.pop_message()
    assert cs1.end_error is None  # processed: it ends when the peer closes the socket
    assert info.value.h2_code == ErrorCodes.ENHANCE_YOUR_CALM
    assert "too_many_pings" in info.value.message
    assert pair.client.goaway is not None
    with pytest.raises(GoAwayError):
        pair.client.open_stream(request_headers())


def test_protocol_error_fails_every_stream_with_one_sticky_error() -> None:
    pair = CorePair()
    streams = [pair.open()[0] for _ in range(3)]
    # a DATA frame on stream 0 is a connection error
    pair.client.receive_data(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
    err = pair.client.error
    assert isinstance(err, ConnectionBroken)
    assert err.code == StatusCode.UNAVAILABLE
    for cs in streams:
        with pytest.raises(ConnectionBroken) as info:
            cs.pop_message()
        assert info.value is err
        with pytest.raises(ConnectionBroken) as info:
            cs.queue_message(b"x")
        assert info.value is err
    with pytest.raises(ConnectionBroken) as info:
        pair.client.open_stream(request_headers())
    assert info.value is err
    # the GOAWAY telling the peer why is still sent
    out = parse_frames(pair.client.data_to_send())
    assert any(isinstance(f, GoAwayFrame) and f.error_code == ErrorCodes.PROTOCOL_ERROR
               for f in out)


def test_peer_max_concurrent_streams_is_respected() -> None:
    pair = CorePair(server_settings=WireSettings(max_concurrent_streams=1))
    woken: list[bool] = []
    pair.client.on_streams_available = lambda: woken.append(True)
    _, ss = pair.open()
    assert not _can_open_stream(pair.client)
    with pytest.raises(h2.exceptions.TooManyStreamsError):
        pair.client.open_stream(request_headers())
    ss.queue_end(build_trailers(StatusCode.OK))
    pair.pump()
    assert woken and _can_open_stream(pair.client)
    pair.open()


def test_streams_over_the_limit_are_refused_before_the_settings_ack() -> None:
    # the client may open streams before it has read the server's SETTINGS:
    # those over the limit are refused (RST_STREAM REFUSED_STREAM), no
    # connection error, and the one within the limit works
    seen: list[tuple[str, bytes]] = []
    pair = CorePair(server_settings=WireSettings(max_concurrent_streams=1), handshake=False,
                    tap=lambda d, data: seen.append((d, data)))
    early = [pair.client.open_stream(request_headers()) for _ in range(3)]
    pair.pump()
    settings = [f for d, data in seen if d == "s2c" for f in parse_frames(data)
                if isinstance(f, SettingsFrame) and "ACK" not in f.flags]
    assert len(settings) == 1  # the limit is advertised in the first SETTINGS
    assert settings[0].settings[SettingsFrame.MAX_CONCURRENT_STREAMS] == 1
    assert pair.server.error is None and pair.client.error is None
    assert len(pair.requests) == 1
    resets = [f for d, data in seen if d == "s2c" for f in parse_frames(data)
              if isinstance(f, RstStreamFrame)]
    assert [(f.stream_id, f.error_code) for f in resets] == [
        (early[1].stream_id, ErrorCodes.REFUSED_STREAM),
        (early[2].stream_id, ErrorCodes.REFUSED_STREAM)]
    for cs in early[1:]:
        with pytest.raises(StreamReset) as info:
            cs.pop_message()
        assert info.value.h2_code == ErrorCodes.REFUSED_STREAM
    early[0].queue_message(b"early")
    pair.pump()
    assert pair.requests[0][0].pop_message() == b"early"
    # from the client's ACK on, the client respects the limit itself
    assert not _can_open_stream(pair.client)


def test_ping_is_acknowledged_with_its_payload() -> None:
    pair = CorePair()
    acks: list[bytes] = []
    pair.client.on_ping_ack = acks.append
    pair.client.ping(b"\x02\x04\x10\x10\x09\x0e\x07\x07")
    pair.pump()
    assert acks == [b"\x02\x04\x10\x10\x09\x0e\x07\x07"]


def test_connection_window_is_raised_at_start() -> None:
    seen: list[tuple[str, bytes]] = []
    CorePair(WireSettings(connection_window=1 << 20),
             tap=lambda d, data: seen.append((d, data)))
    c2s = b"".join(data for d, data in seen if d == "c2s")
    frames = parse_frames(c2s[24:])  # after the preface
    updates = [f for f in frames if isinstance(f, WindowUpdateFrame) and f.stream_id == 0]
    assert [u.window_increment for u in updates] == [(1 << 20) - 65535]


def test_server_initial_metadata_sent_with_the_first_message_only() -> None:
    pair = CorePair()
    cs, ss = pair.open()
    seen: list[tuple[str, bytes]] = []
    pair.tap = lambda d, data: seen.append((d, data))
    ss.queue_message(b"one")
    ss.queue_message(b"two")
    pair.pump()
    ss.queue_message(b"three")
    pair.pump()
    s2c = [type(f).__name__ for d, data in seen if d == "s2c" for f in parse_frames(data)]
    assert s2c.count("HeadersFrame") == 1
    assert s2c.index("HeadersFrame") < s2c.index("DataFrame")
    assert drain(cs) == [b"one", b"two", b"three"]


def _can_open_stream(core: ConnectionCore) -> bool:
    h2c = core.h2
    return bool(h2c.open_outbound_streams < h2c.remote_settings.max_concurrent_streams)
