"""h2 adjustments the wire layer relies on (h2 4.x is pinned in pyproject.toml).

* :class:`EagerFrameBuffer` rejects an overlong frame as soon as its header
  arrives, instead of after buffering its whole announced body.
* :class:`H2Connection` keeps the connection usable after a graceful GOAWAY
  (python-hyper/h2#1181), so in-flight streams can finish, and receives
  frames without h2's eager ``repr(frame)`` for a trace log line (hyperframe
  hex-encodes the whole payload for it: 0.3 ms per 64 KiB frame, 5 ms per
  1 MiB, whether or not anything logs).
"""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.frame_buffer
from h2.errors import ErrorCodes
from h2.exceptions import StreamClosedError, StreamIDTooLowError
from hyperframe.frame import Frame, GoAwayFrame, RstStreamFrame

__all__ = ["EagerFrameBuffer", "H2Connection"]


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
