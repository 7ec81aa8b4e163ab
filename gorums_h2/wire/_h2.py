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
  DATA with h2's exact effect (the PING ACK queued in order, the outbound
  window grown, the same events).
  :attr:`H2Connection.ping_acks_queued` counts the ACKs queued this way, so
  the driver can send them with the next write instead of on their own.
"""

from __future__ import annotations

import struct
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.frame_buffer
from h2.connection import ConnectionState
from h2.errors import ErrorCodes
from h2.exceptions import StreamClosedError, StreamIDTooLowError
from h2.stream import StreamState
from hyperframe.frame import Frame, GoAwayFrame, RstStreamFrame

__all__ = ["FAST_DATA", "PING_ACK_SIZE", "EagerFrameBuffer", "FastData", "H2Connection"]

# Tests switch the DATA fast path off to compare it with h2's own handling.
FAST_DATA = True

_OPEN = (ConnectionState.CLIENT_OPEN, ConnectionState.SERVER_OPEN)
_CAN_RECEIVE = (StreamState.OPEN, StreamState.HALF_CLOSED_LOCAL)
_CAN_SEND = (StreamState.OPEN, StreamState.HALF_CLOSED_REMOTE)
_CAN_SEND_OR_RECEIVE = (StreamState.OPEN, StreamState.HALF_CLOSED_LOCAL,
                        StreamState.HALF_CLOSED_REMOTE)
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


class FastData:
    """A DATA frame taken by the fast path: what h2's DataReceived would say
    (no END_STREAM, no padding, so ``flow_controlled_length == len(data)``)."""

    __slots__ = ("data", "flow_controlled_length", "stream_id")

    def __init__(self, stream_id: int, data: bytes, flow_controlled_length: int) -> None:
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

    # ---- the DATA fast path ----

    def receive_data(self, data: Any) -> list[Any]:
        """h2's ``receive_data``, with plain DATA frames on open streams
        parsed here (see the module doc) and reported as :class:`FastData`
        events, PINGs and connection WINDOW_UPDATEs handled here too
        (:meth:`_fast_control`); the rest goes to h2, and the events and
        the queued replies keep the frames' order."""
        buf = self.incoming_buffer
        if (not FAST_DATA or buf._data or buf._headers_buffer or buf._preamble_len
                or self.state_machine.state not in _OPEN):
            return super().receive_data(data)
        view = memoryview(data)
        end = len(view)
        pos = 0
        events: list[Any] = []
        streams = self.streams
        conn_window = self._inbound_flow_control_window_manager
        max_size = self.max_inbound_frame_size
        while end - pos >= 9:
            hi, lo, ftype, flags, sid = _FRAME_HEADER.unpack_from(view, pos)
            length = (hi << 16) | lo
            if ftype != _TYPE_DATA:
                if pos + 9 + length > end or not self._fast_control(
                        ftype, flags, sid, view, pos + 9, length, events):
                    break
                pos += 9 + length
                continue
            if (flags & (_FLAG_END_STREAM | _FLAG_PADDED)
                    or length > max_size or length == 0 or pos + 9 + length > end):
                break
            stream = streams.get(sid & 0x7FFFFFFF)
            if (stream is None or stream.state_machine.state not in _CAN_RECEIVE
                    or stream._expected_content_length is not None):
                break
            stream_window = stream._inbound_window_manager
            if length > conn_window.current_window_size or (
                    length > stream_window.current_window_size):
                break  # h2 raises the FLOW_CONTROL_ERROR
            conn_window.window_consumed(length)
            stream_window.window_consumed(length)
            events.append(FastData(stream.stream_id,
                                   view[pos + 9 : pos + 9 + length].tobytes(), length))
            pos += 9 + length
        if pos < end:
            events.extend(super().receive_data(view[pos:]))
        return events

    def _fast_control(self, ftype: int, flags: int, sid: int, view: memoryview, start: int,
                      length: int, events: list[Any]) -> bool:
        """Take a whole PING or WINDOW_UPDATE frame (body at
        ``view[start:start + length]``) as h2 would; False for anything else
        or anything h2 would object to, which then goes to h2."""
        sid &= 0x7FFFFFFF
        if sid:
            if ftype == _TYPE_WINDOW_UPDATE and length == 4:
                return self._fast_stream_window_update(sid, view, start, events)
            return False  # a PING h2 rejects
        if ftype == _TYPE_PING:
            if length != 8:
                return False
            if flags & _FLAG_ACK:
                events.append(h2.events.PingAckReceived(
                    ping_data=view[start : start + 8].tobytes()))
            else:  # h2 answers at once, with the same opaque data
                opaque = view[start : start + 8].tobytes()
                out = self._data_to_send
                out += _PING_ACK_HEADER
                out += opaque
                self.ping_acks_queued += 1
                events.append(h2.events.PingReceived(ping_data=opaque))
            return True
        if ftype == _TYPE_WINDOW_UPDATE:
            if length != 4:
                return False
            increment = int.from_bytes(view[start : start + 4], "big")
            window = self.outbound_flow_control_window + increment
            if not 1 <= increment <= _MAX_WINDOW or window > _MAX_WINDOW:
                return False  # h2 raises the PROTOCOL_ERROR / FLOW_CONTROL_ERROR
            self.outbound_flow_control_window = window
            events.append(h2.events.WindowUpdated(stream_id=0, delta=increment))
            return True
        return False

    def _fast_stream_window_update(self, sid: int, view: memoryview, start: int,
                                   events: list[Any]) -> bool:
        """A stream's WINDOW_UPDATE while it can send (h2: the window grows,
        ``WindowUpdated``); closed or unknown streams, a bad increment or an
        overflow (h2 resets the stream) go to h2."""
        stream = self.streams.get(sid)
        if stream is None or stream.state_machine.state not in _CAN_SEND_OR_RECEIVE:
            return False
        increment = int.from_bytes(view[start : start + 4], "big")
        window = stream.outbound_flow_control_window + increment
        if not 1 <= increment <= _MAX_WINDOW or window > _MAX_WINDOW:
            return False
        stream.outbound_flow_control_window = window
        events.append(h2.events.WindowUpdated(stream_id=sid, delta=increment))
        return True

    @property
    def only_ping_acks_queued(self) -> bool:
        """True when all queued output is PING ACKs of the fast path."""
        return len(self._data_to_send) == self.ping_acks_queued * PING_ACK_SIZE

    def data_to_send(self, amount: int | None = None) -> bytes:
        data = super().data_to_send(amount)
        if not self._data_to_send:
            self.ping_acks_queued = 0
        return data

    def send_data_fast(self, stream_id: int, data: bytes | memoryview) -> None:
        """h2's ``send_data`` (no padding, no END_STREAM) for the common case;
        anything else, and every error, through h2's own."""
        size = len(data)
        stream = self.streams.get(stream_id)
        if (not FAST_DATA or stream is None or not size
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
