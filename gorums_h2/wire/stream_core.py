"""State of one gRPC stream, without I/O (driven by :class:`~.protocol.ConnectionCore`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from h2.errors import ErrorCodes

from gorums_h2.wire._h2 import H2Connection
from gorums_h2.wire.errors import (
    EndOfStream,
    MessageTooLarge,
    ProtocolViolation,
    StreamClosed,
    StreamReset,
    reraisable,
)
from gorums_h2.wire.framing import (
    MessageDecoder,
    compress,
    encode_compressed_prefix,
    encode_prefix,
)
from gorums_h2.wire.headers import Headers, parse_response_headers, parse_trailers
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.status import StatusError
from gorums_h2.wire.stream_state import FLAGS, StreamEvent, StreamState, next_state

if TYPE_CHECKING:
    from gorums_h2.wire.protocol import ConnectionCore

__all__ = ["StreamCore"]

_END_STREAM: Final = ()  # marker in StreamCore._end: half-close with an empty DATA frame
_UNPARK_CHUNK: Final = 64 * 1024  # parked bytes decoded at a time


class StreamCore:
    """State of one gRPC stream (either side), without any I/O.

    Inbound: complete messages go to ``on_message`` when set (push mode) or
    into an internal queue read with :meth:`pop_message`. Outbound: messages
    are queued with :meth:`queue_message` and moved into h2 by the
    connection's :meth:`ConnectionCore.flush`; byte counters say how far they
    got (``queued`` -> ``moved`` -> ``written``).
    """

    __slots__ = (
        "_decoder",
        "_end",
        "_inbound",
        "_inbound_bytes",
        "_out",
        "_parked",
        "_parked_end",
        "_unacked",
        "client_side",
        "conn",
        "end_error",
        "inbound_limit",
        "initial_metadata",
        "local_closed",
        "moved",
        "on_message",
        "queued",
        "remote_closed",
        "response_headers",
        "send_encoding",
        "state",
        "status",
        "stream_id",
        "trailing_metadata",
        "written",
    )

    def __init__(self, conn: ConnectionCore, stream_id: int, *, client_side: bool) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.client_side = client_side
        self._decoder = MessageDecoder(conn.settings.max_receive_message_size)
        self._inbound: deque[bytes] = deque()
        self._inbound_bytes = 0  # of _inbound, while counted in conn.inbound_bytes
        self._unacked = 0
        # received bytes kept undecoded while the connection is window-starved
        # (read_gate.py); END_STREAM seen behind them
        self._parked: deque[bytearray] | None = None
        self._parked_end = False
        # queued messages up to which received data is acknowledged at once;
        # beyond it, credit is returned only as the reader catches up
        self.inbound_limit = 0
        self.on_message: Callable[[bytes], None] | None = None
        self._out: deque[bytes | memoryview] = deque()
        self._end: Headers | tuple[()] | None = None
        self.queued = 0
        self.moved = 0
        self.written = 0
        # the stream's state (stream_state.py); the two flags derive from it
        # and change only in _transition
        self.state = StreamState.OPEN
        self.local_closed = False
        self.remote_closed = False
        # Terminal outcome of the receive side: None while open; EndOfStream
        # after a clean finish; a StatusError otherwise.
        self.end_error: BaseException | None = None
        self.status: StatusError | None = None  # client: non-OK status from trailers
        self.initial_metadata: Metadata | None = None
        self.trailing_metadata: Metadata | None = None
        self.response_headers: Headers | None = None  # server: sent with the first message
        self.send_encoding: str | None = None  # grpc-encoding of what we send (None: identity)

    def _transition(self, event: StreamEvent) -> None:
        """Apply ``event`` to :attr:`state` (the only place it changes)."""
        self.state = state = next_state(self.state, event)
        self.local_closed, self.remote_closed = FLAGS[state]

    # ---- hooks for the driver (no-ops here) ----

    def _wake_receivers(self) -> None:
        """Something changed for readers: a message, the end, or an error."""

    def _wake_senders(self) -> None:
        """Queued bytes were written, or the stream can no longer send."""

    # ---- inbound ----

    def pop_message(self) -> bytes:
        """Return the next queued message.

        Raises the stream's terminal exception (:class:`EndOfStream` after a
        clean finish) when nothing is queued and the stream has ended, and
        IndexError when nothing is queued yet.
        """
        inbound = self._inbound
        if inbound:
            msg = inbound.popleft()
            if self._inbound_bytes:  # (inlined: this is the per-message path)
                size = len(msg)
                self._inbound_bytes -= size
                conn = self.conn
                conn.inbound_bytes -= size
                if conn._inbound_waiting and conn.inbound_bytes <= conn._inbound_limit:
                    conn._inbound_waiting = False
                    conn.on_inbound_drained()
            if self._unacked and len(inbound) <= self.inbound_limit:
                if self._parked is not None:
                    self._unpark()  # credit goes back once nothing is parked
                else:
                    self.conn.acknowledge(self.stream_id, self._unacked)
                    self._unacked = 0
            return msg
        if self.end_error is not None:
            raise reraisable(self.end_error)
        raise IndexError("no message queued")

    @property
    def has_message(self) -> bool:
        return bool(self._inbound)

    @property
    def finished(self) -> bool:
        """True when no message will ever be received on this stream again."""
        return not self._inbound and self.end_error is not None

    def set_receive_encoding(self, encoding: str) -> None:
        """Decompress received messages with ``encoding`` (the peer's
        ``grpc-encoding``; set from the headers, before any DATA)."""
        self._decoder.encoding = encoding

    def _on_data(self, data: bytes | memoryview, flow_len: int) -> None:
        if self.end_error is not None:  # we stopped listening (e.g. a decode error)
            self.conn.acknowledge(self.stream_id, flow_len)
            return
        try:
            messages = self._decoder.feed(data)
        except StatusError as exc:
            self.conn.acknowledge(self.stream_id, flow_len)
            self.conn.abort_stream(self, exc)
            return
        callback = self.on_message
        if callback is not None:
            self.conn.acknowledge(self.stream_id, flow_len)
            for msg in messages:
                callback(msg)
            return
        inbound = self._inbound
        if messages:
            inbound.extend(messages)
            size = len(messages[0]) if len(messages) == 1 else sum(map(len, messages))
            self._inbound_bytes += size
            self.conn.inbound_bytes += size
            self._wake_receivers()
        if len(inbound) > self.inbound_limit:
            self._unacked += flow_len
        else:
            self.conn.acknowledge(self.stream_id, flow_len + self._unacked)
            self._unacked = 0

    def _park(self, data: bytes | memoryview, flow_len: int) -> None:
        """Keep received bytes undecoded and unacknowledged (the connection
        is window-starved, or earlier bytes of this stream still are parked)."""
        if self.end_error is not None:
            self.conn.acknowledge(self.stream_id, flow_len)
            return
        parked = self._parked
        if parked is None:
            parked = self._parked = deque()
            self.conn._parked_streams += 1
        if parked and len(parked[-1]) < _UNPARK_CHUNK:
            parked[-1] += data  # small frames coalesce: no object per frame
        else:
            parked.append(bytearray(data))
        self._unacked += flow_len
        size = len(data)
        self._inbound_bytes += size
        self.conn.inbound_bytes += size

    def _unpark(self) -> None:
        """Decode parked bytes, a chunk of up to 64 KiB at a time (so a backlog of tiny
        messages never becomes objects all at once), unless the connection
        is still starved; the END_STREAM behind them follows the last."""
        conn = self.conn
        parked = self._parked
        if parked is None or conn.window_starved:
            return
        messages: list[bytes] = []
        taken = 0
        try:
            while parked and not messages:
                chunk = bytes(parked.popleft())
                taken += len(chunk)
                messages = self._decoder.feed(chunk)
        except StatusError as exc:
            self._drop_parked(taken + sum(map(len, parked)))
            conn.abort_stream(self, exc)
            return
        size = sum(map(len, messages))
        self._inbound_bytes += size - taken
        conn.inbound_bytes += size
        conn._inbound_consumed(taken)
        if messages:
            callback = self.on_message
            if callback is not None:
                for msg in messages:
                    callback(msg)
            else:
                self._inbound.extend(messages)
                self._wake_receivers()
        if not parked:
            self._drop_parked(0)
            if self._parked_end:
                self._parked_end = False
                self._finish_receiving()

    def _drop_parked(self, size: int) -> None:
        self._parked = None
        if size:
            self._inbound_bytes -= size
            self.conn._inbound_consumed(size)
        self.conn._unparked()
        if not self._inbound and self._unacked:
            self.conn.acknowledge(self.stream_id, self._unacked)
            self._unacked = 0

    def _on_end_stream(self) -> None:
        self._transition(StreamEvent.RECV_END)
        if self._parked is not None:
            self._parked_end = True  # after the parked messages
        else:
            self._finish_receiving()
        self.conn._maybe_forget(self)

    def _finish_receiving(self) -> None:
        if self.end_error is None:
            if self._decoder.buffered:
                self._set_end(ProtocolViolation("stream ended in the middle of a message"))
            elif self.client_side and self.trailing_metadata is None:
                self._set_end(ProtocolViolation("server closed the stream without trailers"))
            else:
                self._set_end(self.status if self.status is not None else EndOfStream())

    def _set_end(self, exc: BaseException) -> None:
        """Record the terminal outcome of the receive side (first one wins)."""
        if self.end_error is None:
            self.end_error = exc
            self._wake_receivers()
            self._wake_senders()

    def _on_response_headers(self, headers: Headers, ended: bool) -> None:
        if self.initial_metadata is not None:  # trailers without END_STREAM are invalid
            return
        if ended or any(k == b"grpc-status" for k, _ in headers):
            self._on_trailers(headers)  # trailers-only response
            self.initial_metadata = Metadata()
            return
        try:
            md, encoding = parse_response_headers(headers)
        except StatusError as exc:
            self.initial_metadata = Metadata()
            self.conn.abort_stream(self, exc)
            return
        if encoding not in (None, "identity"):
            self._decoder = MessageDecoder(self._decoder.max_size, encoding)
        self.initial_metadata = md
        self._wake_receivers()  # wait_initial_metadata() waits for this too

    def _on_trailers(self, headers: Headers) -> None:
        status, md = parse_trailers(headers)
        self.trailing_metadata = md
        if self.status is None:
            self.status = status

    def _on_reset(self, error_code: int) -> None:
        outcome: BaseException
        if error_code == ErrorCodes.NO_ERROR and self.status is not None:
            outcome = self.status
        elif error_code == ErrorCodes.NO_ERROR and not self.client_side:
            # a client that is done reading may reset with NO_ERROR
            outcome = EndOfStream()
        else:
            outcome = StreamReset(error_code)
        self.conn._close_stream(self, outcome)

    # ---- outbound ----

    def queue_message(self, body: bytes) -> int:
        """Queue one message; return its ticket (compare with ``written``).

        Raises the stream's terminal error if it can no longer send, and
        :class:`MessageTooLarge` above ``max_send_message_size``.
        """
        ticket = self._enqueue(body)
        self.conn.on_output()
        return ticket

    def _enqueue(self, body: bytes) -> int:
        """:meth:`queue_message` without telling the driver: the caller
        does, with the hook it chooses (the driver's may write at once)."""
        if self.local_closed or self._end is not None:
            raise self._send_error()
        if self.send_encoding is not None:
            return self._queue_compressed(body, self.send_encoding)
        limit = self.conn.settings.max_send_message_size
        if limit is not None and len(body) > limit:
            raise MessageTooLarge(f"message of {len(body)} bytes exceeds the send limit {limit}")
        out = self._out
        out.append(encode_prefix(len(body)))
        out.append(body)
        self.queued += 5 + len(body)
        dirty = self.conn._dirty
        if self not in dirty:
            dirty[self] = None
        return self.queued

    def _queue_compressed(self, body: bytes, encoding: str) -> int:
        """:meth:`_enqueue` for a stream whose messages are compressed
        (kept apart so the common path gains nothing but one test)."""
        body = compress(body, encoding)
        limit = self.conn.settings.max_send_message_size
        if limit is not None and len(body) > limit:  # the compressed size, as grpc-go
            raise MessageTooLarge(f"message of {len(body)} bytes exceeds the send limit {limit}")
        self._out.append(encode_compressed_prefix(len(body)))
        self._out.append(body)
        self.queued += 5 + len(body)
        self.conn._dirty[self] = None
        return self.queued

    def queue_end(self, trailers: Headers | None = None) -> None:
        """Queue the end of our side: half-close (client) or trailers (server)."""
        if self.local_closed or self._end is not None:
            return
        self._end = trailers if trailers is not None else _END_STREAM
        self.conn._dirty[self] = None
        self.conn.on_output()

    def _send_error(self) -> BaseException:
        if self.conn.error is not None:
            return self.conn.error
        if isinstance(self.end_error, StatusError):
            return self.end_error
        return StreamClosed(None, "stream is closed for sending")

    def _flush(self, h2c: H2Connection) -> bool:
        """Move queued data into h2 within the flow-control window; return
        True when nothing is left.

        Small messages are coalesced into one DATA frame each time; a message
        larger than a frame or than the window is split with memoryviews, so
        no byte is copied more than once however often the window runs out.
        """
        out = self._out
        sid = self.stream_id
        if out:
            h2_stream = h2c.streams.get(sid)
            if h2_stream is None:
                budget = h2c.local_flow_control_window(sid)  # h2 raises
            else:  # h2's local_flow_control_window, without its two calls
                budget = h2c.outbound_flow_control_window
                if h2_stream.outbound_flow_control_window < budget:
                    budget = h2_stream.outbound_flow_control_window
            if budget <= 0:
                return False
            if self.response_headers is not None:
                h2c.send_headers(sid, self.response_headers)
                self.response_headers = None
            frame = h2c.max_outbound_frame_size
            moved = 0
            while out and budget > 0:
                limit = frame if frame < budget else budget
                chunk = out.popleft()
                size = len(chunk)
                payload: bytes | memoryview
                if size > limit:  # split: the rest stays first in line
                    view = memoryview(chunk)
                    out.appendleft(view[limit:])
                    payload = view[:limit]
                    size = limit
                elif out and size + len(out[0]) <= limit:  # coalesce what fits
                    parts = [chunk]
                    while out and size + len(out[0]) <= limit:
                        nxt = out.popleft()
                        parts.append(nxt)
                        size += len(nxt)
                    payload = b"".join(parts)
                else:
                    payload = chunk
                h2c.send_data_fast(sid, payload)
                budget -= size
                moved += size
            self.moved += moved
            self.conn._unconfirmed[self] = None
            if out:
                return False
        end = self._end
        if end is not None:
            self._end = None
            self._transition(StreamEvent.SEND_END)
            if end == _END_STREAM:
                h2c.end_stream(sid)
            else:
                if self.response_headers is not None:  # trailers-only response
                    end = self.response_headers + list(end)
                    self.response_headers = None
                h2c.send_headers(sid, end, end_stream=True)
                if not self.remote_closed:
                    # the response is complete: stop the client's side too (as grpc-go)
                    h2c.reset_stream(sid, ErrorCodes.NO_ERROR)
                    self._transition(StreamEvent.RESET)
                    self._set_end(EndOfStream())
            self.conn._maybe_forget(self)
        return True
