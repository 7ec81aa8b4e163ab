"""h2 adjustments the wire layer relies on (h2 4.x is pinned in pyproject.toml).

* :class:`EagerFrameBuffer` rejects an overlong frame as soon as its header
  arrives, instead of after buffering its whole announced body.
* :class:`H2Connection` keeps the connection usable after a graceful GOAWAY
  (python-hyper/h2#1181), so in-flight streams can finish, and receives
  frames without h2's eager ``repr(frame)`` for a trace log line (hyperframe
  hex-encodes the whole payload for it: 0.3 ms per 64 KiB frame, 5 ms per
  1 MiB, whether or not anything logs).
* The DATA fast path: plain DATA frames on open streams, the bulk of the
  traffic, are framed and parsed here (one copy of the payload instead of
  three on receive, no frame objects), with exactly h2's flow-control
  accounting; everything else, and every unusual case (padding, END_STREAM,
  a window or frame-size violation, a stream that is not open, a partial
  frame, a header block in progress), goes through h2 unchanged.
* Control frames on the same fast path: PING, PING ACK and WINDOW_UPDATE
  (connection, and streams that can still send), which grpc-go sends with
  every message (a BDP PING and the connection credit), are parsed next to
  DATA with h2's exact effect on the connection (the PING ACK queued in
  order, the outbound window grown). Instead of h2's ``PingReceived`` and
  ``WindowUpdated`` events, which the owner would dispatch once per frame,
  they leave counters and a flag that it reads once per read:
  :attr:`H2Connection.ping_acks_queued` counts the ACKs queued this way (so
  the driver can send them with the next write instead of on their own, and
  the owner can count them as control replies;
  :attr:`H2Connection.bdp_acks_queued` those that answer grpc-go's BDP PING,
  which may wait longest: nothing measures their round trip but grpc-go's
  bandwidth estimate), :attr:`H2Connection.window_opened` says that an
  outbound window grew. A PING ACK still becomes h2's ``PingAckReceived``
  (the liveness probe's RTT sample: rare, and its data matters).
* :class:`GuardedH2Connection` (what :class:`~.protocol.ConnectionCore`
  uses) adds the defences against hostile peers that belong inside h2: O(1)
  open-stream counting (h2 rescans every stream for each new one), no
  stream limit enforced by h2 itself (the core refuses streams over the limit
  with RST_STREAM, from the connection's start), and a bound on a header
  block while its CONTINUATION frames accumulate (:class:`GuardedFrameBuffer`).

Every access to h2's internals is in this module; :data:`H2_INTERNALS` lists
them, and :func:`missing_h2_internals` tells which an installed h2 lacks.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.frame_buffer
import h2.stream
from h2.connection import ConnectionState
from h2.errors import ErrorCodes
from h2.exceptions import DenialOfServiceError, StreamClosedError, StreamIDTooLowError
from h2.stream import StreamState
from hyperframe.frame import (
    DataFrame,
    ExtensionFrame,
    Frame,
    GoAwayFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
)

__all__ = [
    "BDP_PING",
    "H2_INTERNALS",
    "PING_ACK_SIZE",
    "EagerFrameBuffer",
    "FastData",
    "GuardedFrameBuffer",
    "GuardedH2Connection",
    "H2Connection",
    "missing_h2_internals",
]

_OPEN = (ConnectionState.CLIENT_OPEN, ConnectionState.SERVER_OPEN)
_CAN_RECEIVE = (StreamState.OPEN, StreamState.HALF_CLOSED_LOCAL)
_CAN_SEND = (StreamState.OPEN, StreamState.HALF_CLOSED_REMOTE)
_CAN_SEND_OR_RECEIVE = (StreamState.OPEN, StreamState.HALF_CLOSED_LOCAL,
                        StreamState.HALF_CLOSED_REMOTE)
_OPEN_ANY_SENSE = _CAN_SEND_OR_RECEIVE  # h2's ``H2Stream.open``
_FRAME_HEADER = struct.Struct(">BHBBL")  # 24-bit length as B+H, type, flags, stream id
_TYPE_DATA = 0x0
_TYPE_PING = 0x6
_TYPE_WINDOW_UPDATE = 0x8
_FLAG_END_STREAM = 0x1
_FLAG_ACK = 0x1
_FLAG_PADDED = 0x8
_MAX_WINDOW = 2**31 - 1
# a PING ACK's frame header: length 8, type PING, flags ACK, stream 0
_PING_ACK_HEADER = _FRAME_HEADER.pack(0, 8, _TYPE_PING, _FLAG_ACK, 0)
PING_ACK_SIZE = len(_PING_ACK_HEADER) + 8
#: the opaque data of grpc-go's BDP PING (one per message it receives)
BDP_PING = bytes.fromhex("02041010090e0707")


class FastData:
    """A DATA frame taken by the fast path: what h2's DataReceived would say
    (no END_STREAM, no padding, so ``flow_controlled_length == len(data)``)."""

    __slots__ = ("data", "flow_controlled_length", "stream_id")

    def __init__(self, stream_id: int, data: bytes | memoryview,
                 flow_controlled_length: int) -> None:
        self.stream_id = stream_id
        self.data = data
        self.flow_controlled_length = flow_controlled_length


class EagerFrameBuffer(h2.frame_buffer.FrameBuffer):
    """h2's frame buffer, rejecting an overlong frame as soon as its 9-byte
    header arrives (h2 waits for the whole body, so a peer announcing a
    16 MiB frame would make us buffer it before the error)."""

    def __next__(self) -> Any:
        data = self._data
        if len(data) >= 9:
            length = int.from_bytes(data[:3], "big")
            if length > self.max_frame_size:
                self._validate_frame_length(length)
        return super().__next__()


class H2Connection(h2.connection.H2Connection):
    """h2's connection with graceful GOAWAY (python-hyper/h2#1181).

    h2 moves to CLOSED on any GOAWAY, sent or received, and then rejects every
    further frame, so streams cannot finish after a graceful shutdown starts
    (RFC 9113, 6.8: streams up to the last stream ID may still complete). A
    NO_ERROR GOAWAY here leaves the state machine open; :class:`ConnectionCore`
    itself refuses new streams once a GOAWAY was sent or received.
    """

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self.incoming_buffer = EagerFrameBuffer(server=not config.client_side)
        #: PING ACKs the fast path queued since the last :meth:`data_to_send`
        self.ping_acks_queued = 0
        #: ... of which answer grpc-go's BDP PING (:data:`BDP_PING`)
        self.bdp_acks_queued = 0
        #: the fast path grew an outbound window (connection or stream) where
        #: h2 would have reported ``WindowUpdated``; the owner clears it
        self.window_opened = False
        #: a DATA frame with payload arrived since the last PING (see
        #: :class:`GuardedH2Connection`: that PING is not an empty frame)
        self.ping_credit = False
        #: called for each received frame without payload (GuardedH2Connection)
        self.on_empty_frame: Callable[[], None] | None = None
        #: False: every frame goes through h2's own code
        #: (``WireSettings.h2_fast_path``; the differential tests compare both)
        self.fast_path = True

    # ---- the DATA fast path ----

    def receive_data(self, data: Any) -> list[Any]:
        """h2's ``receive_data``, with plain DATA frames on open streams
        parsed here (see the module doc) and reported as :class:`FastData`
        events; PINGs, PING ACKs and WINDOW_UPDATEs handled here too, a
        PING's ACK queued in order, a PING ACK reported as h2's
        ``PingAckReceived``, and a PING or a window update that h2 would
        report as ``PingReceived`` / ``WindowUpdated`` counted in
        :attr:`ping_acks_queued` / flagged in :attr:`window_opened` instead
        (no event); the rest goes to h2, and the events and the queued
        replies keep the frames' order."""
        buf = self.incoming_buffer
        if (not self.fast_path or buf._data or buf._headers_buffer or buf._preamble_len
                or self.state_machine.state not in _OPEN):
            return super().receive_data(data)
        view = memoryview(data)
        end = len(view)
        pos = 0
        events: list[Any] = []
        streams = self.streams
        conn_window = self._inbound_flow_control_window_manager
        max_size = self.max_inbound_frame_size
        out = self._data_to_send
        while end - pos >= 9:
            hi, lo, ftype, flags, sid = _FRAME_HEADER.unpack_from(view, pos)
            length = (hi << 16) | lo
            start = pos + 9
            nxt = start + length
            if nxt > end:
                break
            if ftype != _TYPE_DATA:
                # grpc-go's per-message pair, inlined: a PING and a
                # connection WINDOW_UPDATE (h2 rejects other lengths)
                if ftype == _TYPE_PING and length == 8 and not sid & 0x7FFFFFFF:
                    # the first PING after DATA is free (GuardedH2Connection)
                    if self.ping_credit:
                        self.ping_credit = False
                    elif self.on_empty_frame is not None:
                        self.on_empty_frame()
                    opaque = view[start:nxt]
                    if flags & _FLAG_ACK:
                        events.append(h2.events.PingAckReceived(ping_data=opaque.tobytes()))
                    else:  # h2 answers at once: the ACK, in order
                        out += _PING_ACK_HEADER
                        out += opaque
                        self.ping_acks_queued += 1
                        if opaque == BDP_PING:
                            self.bdp_acks_queued += 1
                elif ftype == _TYPE_WINDOW_UPDATE and length == 4:
                    increment = int.from_bytes(view[start:nxt], "big")
                    if sid & 0x7FFFFFFF:  # a stream's, rarer
                        if not self._fast_stream_window_update(sid & 0x7FFFFFFF, increment):
                            break
                    else:
                        window = self.outbound_flow_control_window + increment
                        if not 1 <= increment <= _MAX_WINDOW or window > _MAX_WINDOW:
                            break  # h2 raises the PROTOCOL_ERROR / FLOW_CONTROL_ERROR
                        self.outbound_flow_control_window = window
                        self.window_opened = True
                else:
                    break
                pos = nxt
                continue
            if flags & (_FLAG_END_STREAM | _FLAG_PADDED) or length > max_size or length == 0:
                break
            stream = streams.get(sid & 0x7FFFFFFF)
            if (stream is None or stream.state_machine.state not in _CAN_RECEIVE
                    or stream._expected_content_length is not None):
                break
            stream_window = stream._inbound_window_manager
            if length > conn_window.current_window_size or (
                    length > stream_window.current_window_size):
                break  # h2 raises the FLOW_CONTROL_ERROR
            # h2's WindowManager.window_consumed, which cannot fail here
            conn_window.current_window_size -= length
            stream_window.current_window_size -= length
            self.ping_credit = True
            # a view, not a copy: the message decoder copies each message once
            events.append(FastData(stream.stream_id, view[start:nxt], length))
            pos = nxt
        if pos < end:
            events.extend(super().receive_data(view[pos:]))
        return events

    def _fast_stream_window_update(self, sid: int, increment: int) -> bool:
        """A stream's WINDOW_UPDATE while it is open in either sense (h2:
        the window grows, ``WindowUpdated``; here :attr:`window_opened`);
        False for closed or unknown streams, a bad increment or an overflow
        (h2 resets the stream), which then go to h2."""
        stream = self.streams.get(sid)
        if stream is None or stream.state_machine.state not in _CAN_SEND_OR_RECEIVE:
            return False
        window = stream.outbound_flow_control_window + increment
        if not 1 <= increment <= _MAX_WINDOW or window > _MAX_WINDOW:
            return False
        stream.outbound_flow_control_window = window
        self.window_opened = True
        return True

    @property
    def only_ping_acks_queued(self) -> bool:
        """True when all queued output is PING ACKs of the fast path."""
        return len(self._data_to_send) == self.ping_acks_queued * PING_ACK_SIZE

    @property
    def only_bdp_acks_queued(self) -> bool:
        """True when all queued output is ACKs of grpc-go's BDP PINGs (fast path)."""
        return len(self._data_to_send) == self.bdp_acks_queued * PING_ACK_SIZE

    def data_to_send(self, amount: int | None = None) -> bytes:
        data = super().data_to_send(amount)
        if not self._data_to_send:
            self.ping_acks_queued = self.bdp_acks_queued = 0
        return data

    def send_data_fast(self, stream_id: int, data: bytes | memoryview) -> None:
        """h2's ``send_data`` (no padding, no END_STREAM) for the common case;
        anything else, and every error, through h2's own."""
        size = len(data)
        stream = self.streams.get(stream_id)
        if (not self.fast_path or stream is None or not size
                or self.state_machine.state not in _OPEN
                or stream.state_machine.state not in _CAN_SEND
                or size > self.max_outbound_frame_size
                or size > self.outbound_flow_control_window
                or size > stream.outbound_flow_control_window):
            self.send_data(stream_id, data)
            return
        self.outbound_flow_control_window -= size
        stream.outbound_flow_control_window -= size
        out = self._data_to_send
        out += _FRAME_HEADER.pack(size >> 16, size & 0xFFFF, _TYPE_DATA, 0, stream_id)
        out += data

    def _receive_frame(self, frame: Frame) -> list[Any]:
        # h2 4.x's _receive_frame without its first line,
        # ``self.config.logger.trace("Received frame: %s", repr(frame))``.
        events: list[Any]
        try:
            frames, events = self._frame_dispatch_table[frame.__class__](frame)
        except StreamClosedError as e:
            if self._stream_is_closed_by_reset(e.stream_id):
                f = RstStreamFrame(e.stream_id)
                f.error_code = e.error_code
                self._prepare_for_sending([f])
                events = e._events
            else:
                raise
        except StreamIDTooLowError as e:
            if self._stream_is_closed_by_reset(e.stream_id):
                f = RstStreamFrame(e.stream_id)
                f.error_code = ErrorCodes.STREAM_CLOSED
                self._prepare_for_sending([f])
                events = []
            elif self._stream_is_closed_by_end(e.stream_id):
                raise StreamClosedError(e.stream_id) from e
            else:
                raise
        else:
            self._prepare_for_sending(frames)
        return events

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Any], list[Any]]:
        if frame.error_code != ErrorCodes.NO_ERROR:
            return super()._receive_goaway_frame(frame)
        event = h2.events.ConnectionTerminated()
        event.error_code = ErrorCodes.NO_ERROR
        event.last_stream_id = frame.last_stream_id
        event.additional_data = frame.additional_data or None
        return [], [event]

    def send_graceful_goaway(self, last_stream_id: int, data: bytes = b"") -> None:
        """Queue GOAWAY(NO_ERROR) without closing the state machine."""
        frame = GoAwayFrame(stream_id=0, last_stream_id=last_stream_id,
                            error_code=ErrorCodes.NO_ERROR, additional_data=data)
        self._prepare_for_sending([frame])


# ---- defences against hostile peers (kept apart from the adjustments above) ----


class GuardedFrameBuffer(EagerFrameBuffer):
    """:class:`EagerFrameBuffer` that bounds a header block while it grows.

    h2 buffers up to 64 CONTINUATION frames of any size (64 x 1 MiB with our
    frame size) and checks the header-list limit only when the block is
    complete and decoded. Here the encoded block may not exceed
    ``block_limit`` bytes at any time: past it, :class:`DenialOfServiceError`
    (h2 answers GOAWAY ENHANCE_YOUR_CALM and the connection fails).
    """

    def __init__(self, server: bool, block_limit: int) -> None:
        super().__init__(server=server)
        self.block_limit = block_limit
        self._block_size = 0

    def _update_header_buffer(self, f: Frame | None) -> Frame | None:
        started = bool(self._headers_buffer)
        result = super()._update_header_buffer(f)
        if self._headers_buffer:
            data = getattr(f, "data", b"")
            self._block_size = (self._block_size if started else 0) + len(data)
            if self._block_size > self.block_limit:
                raise DenialOfServiceError(
                    f"header block exceeds {self.block_limit} bytes "
                    f"({len(self._headers_buffer)} frames)")
        else:
            self._block_size = 0
        return result


_EMPTY_FRAMES = frozenset({PingFrame, SettingsFrame, PriorityFrame, ExtensionFrame})


class GuardedH2Connection(H2Connection):
    """:class:`H2Connection` with O(1) stream counting and no h2-side stream limit.

    * h2 counts open streams by scanning all of them (and drops closed ones
      as it goes) for every new stream: quadratic in the number of streams.
      Here the streams the connection's user still tracks are kept in two
      dicts (by parity), :meth:`release_stream` forgets one (the owner calls
      it when the stream is done), and a full h2 scan runs only when the
      stream table doubled since the last one, so leftovers cannot pile up.
    * h2 never enforces our MAX_CONCURRENT_STREAMS itself (it would only from
      the peer's SETTINGS ACK on, and then as a connection error); the owner
      refuses excess streams with RST_STREAM REFUSED_STREAM instead.
    * ``header_block_limit`` bounds a header block being assembled from
      CONTINUATION frames (:class:`GuardedFrameBuffer`).
    * ``on_empty_frame`` (when set) is called for each received frame that
      carries nothing (PING, SETTINGS, PRIORITY, unknown types, DATA with
      neither payload nor END_STREAM) as h2 parses it, so a budget it
      enforces by raising :class:`DenialOfServiceError` stops the parsing of
      a flood at once. The first PING (or PING ACK) after a DATA frame with
      payload is not counted: grpc-go sends a BDP PING with every message it
      receives (and its ping policy likewise forgives PINGs while data
      flows), so a Go peer at thousands of messages per second stays within
      any budget, while a flood still gets at most one free PING per DATA
      frame, which costs its sender flow-control window.
    * ``max_new_streams_per_read``: a peer opening more streams than that
      within one read (the owner sets ``new_streams = 0`` before each
      :meth:`receive_data`) gets :class:`DenialOfServiceError`
      (GOAWAY ENHANCE_YOUR_CALM) before h2 parses the rest of the bytes:
      nginx's rapid-reset rule (twice the stream limit per read). It bounds
      the work one read can cause; None: no limit.
    """

    def __init__(self, config: h2.config.H2Configuration, *, header_block_limit: int,
                 max_new_streams_per_read: int | None = None) -> None:
        super().__init__(config)
        self.incoming_buffer = GuardedFrameBuffer(not config.client_side, header_block_limit)
        self._live: tuple[dict[int, None], dict[int, None]] = ({}, {})
        self._scan_at = 64
        self._inbound_parity = int(not config.client_side)
        self.max_new_streams_per_read = max_new_streams_per_read
        self.new_streams = 0

    def _receive_frame(self, frame: Frame) -> list[Any]:
        hook = self.on_empty_frame
        if hook is not None:
            cls = frame.__class__
            if cls is DataFrame:
                if frame.data:  # type: ignore[attr-defined]
                    self.ping_credit = True
                elif "END_STREAM" not in frame.flags:
                    hook()
            elif cls is PingFrame and self.ping_credit:
                self.ping_credit = False  # grpc-go's per-message PING
            elif cls in _EMPTY_FRAMES:
                hook()
        return super()._receive_frame(frame)

    def _begin_new_stream(self, stream_id: int, allowed_ids: Any) -> h2.stream.H2Stream:
        stream = super()._begin_new_stream(stream_id, allowed_ids)
        self._live[stream_id & 1][stream_id] = None
        limit = self.max_new_streams_per_read
        if limit is not None and stream_id & 1 == self._inbound_parity:
            self.new_streams += 1
            if self.new_streams > limit:
                raise DenialOfServiceError(f"more than {limit} new streams in one read")
        return stream

    def release_stream(self, stream_id: int) -> None:
        """The owner is done with ``stream_id``: stop counting it as open,
        and drop h2's record of it if h2 considers it closed too."""
        self._live[stream_id & 1].pop(stream_id, None)
        stream = self.streams.get(stream_id)
        if stream is not None and stream.closed:
            del self.streams[stream_id]
            self._closed_streams[stream_id] = stream.closed_by

    def _open_streams(self, remainder: int) -> int:
        streams = self.streams
        if len(streams) >= self._scan_at:
            super()._open_streams(remainder)  # h2's scan: drops closed streams
            for live in self._live:
                for sid in [sid for sid in live if sid not in streams]:
                    del live[sid]
            self._scan_at = max(64, 2 * len(streams))
        return len(self._live[remainder])

    @property
    def output_size(self) -> int:
        """Bytes h2 has queued for the peer (not yet taken by ``data_to_send``)."""
        return len(self._data_to_send)

    def acknowledge(self, size: int, stream_id: int) -> bool:
        """h2's ``acknowledge_received_data``; True if h2 queued output for
        it (the WINDOW_UPDATE it decided to send; queued PING ACKs may wait
        for the next write). One call on the per-message path.

        When neither window would send a WINDOW_UPDATE, the bytes are only
        counted, as h2 would: its ``WindowManager._maybe_update_window``
        returns an increment when at least half the maximum window was
        processed, or when the window is exhausted (then h2 decides here).
        Otherwise, and for unknown streams, h2 does it."""
        conn_window = self._inbound_flow_control_window_manager
        stream = self.streams.get(stream_id)
        processed: int = conn_window._bytes_processed + size
        if (self.fast_path and size > 0 and stream is not None
                and conn_window.current_window_size > 0
                and processed < conn_window.max_window_size // 2):
            if stream.state_machine.state not in _OPEN_ANY_SENSE:
                conn_window._bytes_processed = processed  # h2 leaves closed streams alone
                return False
            stream_window = stream._inbound_window_manager
            stream_processed: int = stream_window._bytes_processed + size
            if (stream_window.current_window_size > 0
                    and stream_processed < stream_window.max_window_size // 2):
                conn_window._bytes_processed = processed
                stream_window._bytes_processed = stream_processed
                return False
        queued = len(self._data_to_send)
        self.acknowledge_received_data(size, stream_id)
        return len(self._data_to_send) != queued

    def terminate(self, error_code: int) -> None:
        """Queue GOAWAY ``error_code`` unless h2 already closed the
        connection: h2 does so for errors raised inside its own parsing, not
        for those the fast paths or our hooks raise outside it."""
        if self.state_machine.state is not ConnectionState.CLOSED:
            self.close_connection(error_code=error_code)

    def frame_cut(self, data: bytes, max_frames: int) -> int:
        """The offset in ``data`` right after the ``max_frames``-th frame
        that ends in it (counting the end of a frame h2 holds part of), or
        ``len(data)`` when fewer end there:
        the owner passes that much now and the rest after a yield."""
        buf = self.incoming_buffer
        held = buf._data
        pos = buf._preamble_len  # the rest of the client preface comes first
        count = 0
        end = len(data)
        if held and not pos:
            head = bytes(held[:3]) if len(held) >= 3 else bytes(held) + data[:3 - len(held)]
            pos = 9 + int.from_bytes(head, "big") - len(held)
            count = 1
        while pos + 9 <= end:
            if count >= max_frames:
                return pos
            pos += 9 + int.from_bytes(data[pos:pos + 3], "big")
            count += 1
        return end


# What the classes above rely on in h2 beyond its public API. h2 does not
# promise these; tests/wire/test_h2_contract.py fails with the missing names
# when an h2 release changes them.
H2_INTERNALS: dict[type, tuple[str, ...]] = {
    h2.frame_buffer.FrameBuffer: (
        "_update_header_buffer", "_validate_frame_length", "__next__",
    ),
    h2.connection.H2Connection: (
        "_receive_frame", "_receive_goaway_frame", "_frame_dispatch_table",
        "_prepare_for_sending", "_stream_is_closed_by_reset", "_stream_is_closed_by_end",
        "_begin_new_stream", "_open_streams", "_inbound_flow_control_window_manager",
        "_closed_streams", "_data_to_send",
    ),
}
# instance attributes (set in __init__), checked on live objects
H2_INSTANCE_INTERNALS: dict[str, tuple[str, ...]] = {
    "FrameBuffer": ("_data", "_headers_buffer", "_preamble_len", "max_frame_size"),
    "H2Connection": ("_data_to_send", "_closed_streams", "_inbound_flow_control_window_manager",
                     "_frame_dispatch_table", "streams", "incoming_buffer"),
    "H2Stream": ("_inbound_window_manager", "_expected_content_length", "state_machine",
                 "closed_by"),
}


def missing_h2_internals() -> list[str]:
    """The h2 internals :mod:`._h2` relies on that the installed h2 lacks
    (empty when the contract holds)."""
    instance_names = {name for names in H2_INSTANCE_INTERNALS.values() for name in names}
    missing = [f"{cls.__name__}.{name}" for cls, names in H2_INTERNALS.items()
               for name in names if name not in dir(cls) and name not in instance_names]
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    conn.send_headers(1, [(b":method", b"GET"), (b":scheme", b"http"),
                          (b":path", b"/"), (b":authority", b"x")])
    objects = {"FrameBuffer": conn.incoming_buffer, "H2Connection": conn,
               "H2Stream": conn.streams.get(1)}
    for kind, names in H2_INSTANCE_INTERNALS.items():
        obj = objects[kind]
        missing += [f"{kind}.{name} (instance)" for name in names if not hasattr(obj, name)]
    for name in ("current_window_size", "window_consumed", "max_window_size", "_bytes_processed"):
        if not hasattr(getattr(conn, "_inbound_flow_control_window_manager", None), name):
            missing.append(f"WindowManager.{name}")
    if not isinstance(getattr(conn, "_data_to_send", None), bytearray):
        missing.append("H2Connection._data_to_send (a bytearray)")
    return missing
