"""The sans-IO heart of the wire layer: gRPC streams on one h2 connection.

:class:`ConnectionCore` owns an ``h2.connection.H2Connection`` and the
:class:`StreamCore` objects of its open streams. It is fed received bytes
(:meth:`ConnectionCore.receive_data`), turns h2 events into stream state
(messages, trailers, resets, window updates) with a table of event handlers,
moves queued outbound messages into h2 within the flow-control windows
(:meth:`ConnectionCore.flush`), and hands back the bytes to write
(:meth:`ConnectionCore.data_to_send`). It never performs I/O and never waits:
the driver in :mod:`gorums_h2.wire.connection` does, reacting to the three
hooks a core calls (``on_output``, ``StreamCore._wake_receivers``,
``StreamCore._wake_senders``).

Invariants:

* Every received flow-controlled byte is acknowledged: at once when nothing
  waits in a stream's inbound queue, else when the queue is drained, and at
  connection level for streams that are gone.
* Messages of one stream go out in the order they were queued, each whole.
* A connection failure is sticky: :attr:`ConnectionCore.error` is set once,
  and every stream that had not ended gets that same exception.
* A peer never has more than ``max_concurrent_streams`` streams open here,
  from the first byte on (before it ACKed our SETTINGS too): excess streams
  get RST_STREAM REFUSED_STREAM and never reach ``on_request``.
* Abuse budgets (:mod:`.limits`): streams reset by the peer before they
  completed and streams we refused, and frames that carry nothing, are
  counted per time window; past a budget the core sends GOAWAY
  ENHANCE_YOUR_CALM and fails; read pausing tells the driver when to stop
  reading. Both live in :mod:`.read_gate`, a mixin of this class.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.frame_buffer
import h2.settings
from h2.errors import ErrorCodes

from gorums_h2.wire._h2 import PING_ACK_SIZE, FastData, GuardedH2Connection
from gorums_h2.wire.errors import (
    ConnectionBroken,
    GoAwayError,
    StreamClosed,
    reraisable,
)
from gorums_h2.wire.headers import BULK_HEADERS, Headers, prepare_bulk_headers
from gorums_h2.wire.read_gate import ReadGate
from gorums_h2.wire.settings import CLIENT_CONNECTION_WINDOW, SERVER_CONNECTION_WINDOW, WireSettings
from gorums_h2.wire.status import StatusError, escape_peer_text
from gorums_h2.wire.stream_core import StreamCore
from gorums_h2.wire.stream_state import StreamEvent, StreamState

__all__ = ["ConnectionCore", "StreamCore"]

def _noop() -> None:
    pass


class ConnectionCore(ReadGate):
    """One HTTP/2 connection carrying gRPC streams (sans-IO).

    ``on_output`` is called whenever there may be bytes to send; the driver
    then calls :meth:`flush` and :meth:`data_to_send`. ``on_request`` (server
    side) receives each new stream with its request headers.
    """

    __slots__ = (
        "_clock", "_dirty", "_handlers", "_stream_factory",
        "_unconfirmed", "client_side", "error", "goaway", "h2", "on_control_output",
        "on_failed", "on_output", "on_ping_ack", "on_remote_settings", "on_request",
        "on_streams_available", "settings", "streams",
    )

    def __init__(
        self,
        *,
        client_side: bool,
        settings: WireSettings | None = None,
        stream_factory: Callable[[ConnectionCore, int], StreamCore] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_side = client_side
        self.settings = s = settings or WireSettings()
        config = h2.config.H2Configuration(client_side=client_side, header_encoding=None)
        limit = s.max_concurrent_streams
        self.h2 = GuardedH2Connection(
            config, header_block_limit=4 * s.max_header_list_size + 16384,
            max_new_streams_per_read=None if limit is None or client_side else max(2 * limit, 200))
        self.h2.fast_path = s.h2_fast_path
        self._clock = clock
        self._init_read_gate(s, client_side)
        self.streams: dict[int, StreamCore] = {}
        self._dirty: dict[StreamCore, None] = {}
        self._unconfirmed: dict[StreamCore, None] = {}  # moved into h2, not yet written
        self.error: StatusError | None = None
        self.goaway: GoAwayError | None = None  # received from the peer
        self.goaway_sent = False
        # failed because of what the peer sent (our GOAWAY says why): the
        # driver half-closes and lingers so that the GOAWAY reaches it
        self.rejected_peer = False
        self.on_output: Callable[[], None] = _noop
        # output that is only PING ACKs: may wait for the next write (see receive_data)
        self.on_control_output: Callable[[], None] = self._control_output
        self.on_request: Callable[[StreamCore, Headers], None] = _reject_requests
        self.on_ping_ack: Callable[[bytes], None] = _ignore
        self.on_streams_available: Callable[[], None] = _noop
        self.on_failed: Callable[[], None] = _noop
        self.on_remote_settings: Callable[[], None] = _noop  # each SETTINGS (not ACK) received
        self._stream_factory = stream_factory or (
            lambda conn, sid: StreamCore(conn, sid, client_side=client_side)
        )
        self._handlers: dict[type, Callable[[Any], None]] = {
            h2.events.DataReceived: self._on_data,
            FastData: self._on_data,
            h2.events.RequestReceived: self._on_request,
            h2.events.ResponseReceived: self._on_response,
            h2.events.TrailersReceived: self._on_trailers,
            h2.events.StreamEnded: self._on_stream_ended,
            h2.events.StreamReset: self._on_stream_reset,
            h2.events.WindowUpdated: self._on_window_updated,
            h2.events.RemoteSettingsChanged: self._on_settings_changed,
            h2.events.ConnectionTerminated: self._on_goaway,
            h2.events.PingAckReceived: self._on_ping_ack,
            h2.events.PingReceived: self._on_control_reply,
        }
        self.h2.on_empty_frame = self._on_empty_frame

    # ---- setup ----

    def initiate(self) -> None:
        """Queue the preface/SETTINGS and the connection window increase."""
        s = self.settings
        h2c = self.h2
        local: dict[h2.settings.SettingCodes, int] = {
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: s.stream_window,
            h2.settings.SettingCodes.MAX_FRAME_SIZE: s.max_frame_size,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: s.max_header_list_size,
        }
        if self.client_side:
            local[h2.settings.SettingCodes.ENABLE_PUSH] = 0
        if s.max_concurrent_streams is not None:
            local[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = s.max_concurrent_streams
        h2c.local_settings = h2.settings.Settings(client=self.client_side, initial_values=local)
        # h2 applies our MAX_FRAME_SIZE only once the peer ACKs it, but a peer
        # may use a larger advertised size as soon as it reads our SETTINGS.
        h2c.max_inbound_frame_size = s.max_frame_size
        # h2 would apply our MAX_HEADER_LIST_SIZE to its decoder only when
        # the peer ACKs a *change*; initial values are no change, so without
        # this its 64 KiB default held whatever we advertised. Applied at
        # once: a larger limit may be used as soon as the peer reads it, a
        # smaller one holds from the start (as grpc-go's own limit does).
        h2c.decoder.max_header_list_size = s.max_header_list_size
        h2c.initiate_connection()
        if s.max_concurrent_streams is not None:
            # The SETTINGS just queued carry our stream limit. h2 would enforce
            # it only from the peer's ACK on, and then as a connection error;
            # _on_request refuses excess streams (RST_STREAM REFUSED_STREAM)
            # from the start instead, so h2 never learns the limit.
            del local[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS]
            h2c.local_settings = h2.settings.Settings(client=self.client_side,
                                                      initial_values=local)
        window = s.connection_window
        if window is None:
            window = CLIENT_CONNECTION_WINDOW if self.client_side else SERVER_CONNECTION_WINDOW
        extra = window - 65535
        if extra > 0:
            h2c.increment_flow_control_window(extra)
        self.on_output()

    # ---- bytes in / bytes out ----

    def receive_data(self, data: bytes) -> None:
        """Process received bytes. A protocol violation by the peer fails the
        connection (h2 has queued the GOAWAY, still available from
        :meth:`data_to_send`)."""
        if self.error is not None:
            return
        h2c = self.h2
        if self._continuing:  # a later step of the same read (receive_step)
            self._continuing = False
        else:
            h2c.new_streams = 0  # the per-read rule counts from here
        try:
            events = h2c.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.rejected_peer = True
            if isinstance(exc, h2.exceptions.DenialOfServiceError):
                # our budgets may raise outside h2's parser (the fast path)
                h2c.terminate(exc.error_code)
            self.fail(ConnectionBroken(f"HTTP/2 protocol error from peer: {exc}"))
            self.on_output()
            return
        handlers = self._handlers
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
        if h2c.window_opened:
            # the fast path's WindowUpdated, once per read: a blocked
            # stream may send now
            h2c.window_opened = False
            if self._dirty:
                self.on_output()
        if self._window_blocked:
            self._after_read()
        queued = len(h2c._data_to_send)  # (h2c.output_size without the call)
        if queued:
            if queued == h2c.ping_acks_queued * PING_ACK_SIZE:  # only_ping_acks_queued
                # grpc-go's per-message BDP PING: its ACK can leave with the
                # reply or request this data is about to cause, not in a
                # write of its own (the driver still bounds the wait)
                self.on_control_output()
            else:
                self.on_output()

    def _control_output(self) -> None:
        self.on_output()

    def flush(self) -> None:
        """Move queued stream data into h2 as far as flow control allows."""
        dirty = self._dirty
        if not dirty:
            self._window_blocked = False
            if self.window_starved:
                self._check_window_backlog(())
            return
        h2c = self.h2
        for stream in list(dirty):
            if stream._flush(h2c):
                dirty.pop(stream, None)
        self._window_blocked = blocked = bool(dirty)
        if blocked or self.window_starved:
            self._check_window_backlog(dirty)
        if blocked and self._inbound_waiting:
            self._inbound_waiting = False
            self.on_inbound_drained()  # output waits for a window: read on

    def data_to_send(self) -> bytes:
        h2c = self.h2
        # control replies handed to the transport: h2's (counted by the
        # event handlers) and the fast path's PING ACKs (counted by h2c)
        queued = self._control_queued + h2c.ping_acks_queued
        if queued:
            self._control_unwritten += queued
            self._control_queued = 0
        return h2c.data_to_send()

    @property
    def output_can_wait(self) -> bool:
        """True when all queued output is PING ACKs (after :meth:`flush`):
        a writer may let them wait a moment for the next message."""
        h2c = self.h2
        return bool(h2c._data_to_send) and h2c.only_ping_acks_queued

    def confirm_written(self) -> None:
        """The bytes from the last :meth:`data_to_send` reached the transport
        (including those of streams that ended in the meantime)."""
        self._control_unwritten = 0
        unconfirmed = self._unconfirmed
        if unconfirmed:
            self._unconfirmed = {}
            for stream in unconfirmed:
                if stream.written != stream.moved:
                    stream.written = stream.moved
                    stream._wake_senders()

    # ---- operations ----

    def open_stream(self, headers: Headers) -> StreamCore:
        """Start a client stream by queuing its HEADERS.

        Raises the sticky connection error, or :class:`GoAwayError` after the
        peer said GOAWAY; :class:`h2.exceptions.TooManyStreamsError` when the
        peer's MAX_CONCURRENT_STREAMS is reached (the driver waits instead).
        """
        if self.error is not None:
            raise reraisable(self.error)
        if self.goaway is not None:
            raise GoAwayError(
                f"no new streams: {self.goaway.message}",  # says why (e.g. max_connections)
                self.goaway.h2_code,
                self.goaway.last_stream_id,
            )
        h2c = self.h2
        if h2c.open_outbound_streams >= h2c.remote_settings.max_concurrent_streams:
            raise h2.exceptions.TooManyStreamsError("peer's MAX_CONCURRENT_STREAMS reached")
        sid = h2c.get_next_available_stream_id()
        if len(headers) > BULK_HEADERS:
            self._send_bulk_headers(sid, headers)
        else:
            h2c.send_headers(sid, headers)
        stream = self._stream_factory(self, sid)
        self.streams[sid] = stream
        self.on_output()
        return stream

    def _send_bulk_headers(self, sid: int, headers: Headers) -> None:
        """HEADERS of many fields (much metadata) without h2's per-field
        pipeline: :func:`prepare_bulk_headers` does its work in one pass."""
        h2c = self.h2
        config = h2c.config
        config.normalize_outbound_headers = config.validate_outbound_headers = False
        try:
            h2c.send_headers(sid, prepare_bulk_headers(headers))
        finally:
            config.normalize_outbound_headers = config.validate_outbound_headers = True

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Return ``size`` bytes of credit; wakes the writer when h2 made a
        WINDOW_UPDATE of it (h2 batches them: about every half window)."""
        if size and self.h2.acknowledge(size, stream_id):
            self.on_output()

    def reset_stream(self, stream: StreamCore, code: int = ErrorCodes.CANCEL) -> None:
        """Reset ``stream`` locally (RST_STREAM ``code``) and forget it; its
        waiters get :class:`StreamClosed` (not StreamReset: that is the peer's)."""
        self._send_reset(stream, code)
        self._close_stream(stream, StreamClosed(None, "stream cancelled locally"))

    def abort_stream(self, stream: StreamCore, exc: StatusError) -> None:
        """End ``stream`` with ``exc`` because of what the peer sent.

        A client resets the stream (CANCEL) and reports ``exc``; a server
        reports ``exc`` to its handler, which answers with trailers.
        """
        stream._set_end(exc)
        if self.client_side:
            self._send_reset(stream, ErrorCodes.CANCEL)
            self._close_stream(stream, None)

    def _send_reset(self, stream: StreamCore, code: int) -> None:
        """Queue RST_STREAM ``code`` unless the stream or connection is done."""
        if stream.state is not StreamState.CLOSED and self.error is None:
            try:
                self.h2.reset_stream(stream.stream_id, code)
            except h2.exceptions.StreamClosedError:
                pass
            self.on_output()

    def _close_stream(self, stream: StreamCore, outcome: BaseException | None, *,
                      forget: bool = True) -> None:
        """The one way a stream closes early (a reset either way, a GOAWAY
        refusal, a connection failure): state CLOSED, unsent output dropped,
        ``outcome`` recorded (unless one already was, or it is None), senders
        woken, and the stream forgotten (unless ``forget`` is False)."""
        stream._transition(StreamEvent.RESET)
        stream._out.clear()
        stream._end = None
        self._dirty.pop(stream, None)
        if outcome is not None:
            stream._set_end(outcome)
        stream._wake_senders()
        if forget:
            self._maybe_forget(stream)

    def send_goaway(self, code: int = ErrorCodes.NO_ERROR, data: bytes = b"") -> None:
        """Queue a GOAWAY. With NO_ERROR the open streams may still finish
        (graceful); new streams from the peer are refused from now on."""
        if self.error is not None:
            return
        self.goaway_sent = True
        if code == ErrorCodes.NO_ERROR:
            self.h2.send_graceful_goaway(self.h2.highest_inbound_stream_id, data)
        else:
            self.h2.close_connection(error_code=code, additional_data=data or None)
        self.on_output()

    def ping(self, opaque: bytes) -> None:
        if self.error is None:
            self.h2.ping(opaque)
            self.on_output()

    def fail(self, exc: StatusError) -> None:
        """Fail the connection: record ``exc`` (first wins) and end every stream with it."""
        if self.error is not None:
            return
        self.error = exc
        self._dirty.clear()
        self.inbound_bytes = 0
        for stream in list(self.streams.values()):
            self._close_stream(stream, exc, forget=False)
        self.streams.clear()
        self.on_failed()

    def _maybe_forget(self, stream: StreamCore) -> None:
        if (
            stream.local_closed
            and stream.remote_closed
            and self.streams.pop(stream.stream_id, None) is not None
        ):
            self.h2.release_stream(stream.stream_id)
            if stream._inbound_bytes:  # never read now: stop counting them
                size, stream._inbound_bytes = stream._inbound_bytes, 0
                self._inbound_consumed(size)
            if stream._parked is not None:
                stream._parked = None
                self._unparked()
            if stream._unacked:
                # queued messages no longer hold the connection window
                self.acknowledge(stream.stream_id, stream._unacked)
                stream._unacked = 0
            self.on_streams_available()

    # ---- h2 event handlers ----

    def _on_data(self, event: h2.events.DataReceived | FastData) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is None:
            self.acknowledge(event.stream_id, event.flow_controlled_length)
            return
        stream._on_data(event.data, event.flow_controlled_length)

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        sid: int = event.stream_id
        if self.error is not None:
            return
        limit = self.settings.max_concurrent_streams
        if self.goaway_sent or (limit is not None and len(self.streams) >= limit):
            self.h2.reset_stream(sid, ErrorCodes.REFUSED_STREAM)
            self.h2.release_stream(sid)
            self._spend_reset("too many streams refused or reset")
            return
        headers: Headers = list(event.headers or [])
        stream = self._stream_factory(self, sid)
        self.streams[sid] = stream
        self.on_request(stream, headers)

    def _on_response(self, event: h2.events.ResponseReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            ended = event.stream_ended is not None
            stream._on_response_headers(list(event.headers or []), ended)

    def _on_trailers(self, event: h2.events.TrailersReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream._on_trailers(list(event.headers or []))

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream._on_end_stream()
            if self.client_side and not stream.local_closed:
                # the call is over; close our side too (as grpc-go does)
                self.reset_stream_quietly(stream, ErrorCodes.NO_ERROR)

    def reset_stream_quietly(self, stream: StreamCore, code: int) -> None:
        """RST_STREAM without changing the stream's recorded outcome."""
        self._send_reset(stream, code)
        self._close_stream(stream, None)

    def _on_stream_reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream._on_reset(int(event.error_code or 0))
            # a peer that resets what it just opened makes us work for nothing
            if not self.client_side:
                self._spend_reset("too many streams reset")

    def _on_window_updated(self, event: h2.events.WindowUpdated) -> None:
        if self._dirty:
            self.on_output()

    def _on_settings_changed(self, event: h2.events.RemoteSettingsChanged) -> None:
        self._control_queued += 1  # h2 queued the SETTINGS ACK
        self.on_remote_settings()
        if self._dirty:
            self.on_output()
        if h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS in event.changed_settings:
            self.on_streams_available()

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        code = int(event.error_code or 0)
        last = int(event.last_stream_id or 0)
        try:
            name = ErrorCodes(code).name
        except ValueError:
            name = str(code)
        data = event.additional_data
        extra = f": {escape_peer_text(data.decode(errors='replace'), 256)}" if data else ""
        goaway = GoAwayError(f"peer sent GOAWAY ({name}{extra})", code, last)
        if self.goaway is None:
            self.goaway = goaway
        for sid, stream in list(self.streams.items()):
            if self.client_side and sid > last:
                self._close_stream(stream, GoAwayError(
                    f"stream not processed: {goaway.message}", code, last))
        self.on_streams_available()

    def _on_ping_ack(self, event: h2.events.PingAckReceived) -> None:
        self.on_ping_ack(bytes(event.ping_data or b""))


def _reject_requests(stream: StreamCore, headers: Headers) -> None:
    stream.conn.reset_stream(stream, ErrorCodes.REFUSED_STREAM)


def _ignore(_data: bytes) -> None:
    pass
