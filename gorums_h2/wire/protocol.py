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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.frame_buffer
import h2.settings
from h2.errors import ErrorCodes

from gorums_h2.wire._h2 import FastData, H2Connection
from gorums_h2.wire.errors import (
    ConnectionBroken,
    GoAwayError,
    StreamReset,
)
from gorums_h2.wire.headers import Headers
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.status import StatusError, escape_peer_text
from gorums_h2.wire.stream_core import StreamCore

__all__ = ["ConnectionCore", "StreamCore"]

def _noop() -> None:
    pass


class ConnectionCore:
    """One HTTP/2 connection carrying gRPC streams (sans-IO).

    ``on_output`` is called whenever there may be bytes to send; the driver
    then calls :meth:`flush` and :meth:`data_to_send`. ``on_request`` (server
    side) receives each new stream with its request headers.
    """

    def __init__(
        self,
        *,
        client_side: bool,
        settings: WireSettings | None = None,
        stream_factory: Callable[[ConnectionCore, int], StreamCore] | None = None,
    ) -> None:
        self.client_side = client_side
        self.settings = settings or WireSettings()
        config = h2.config.H2Configuration(client_side=client_side, header_encoding=None)
        self.h2 = H2Connection(config=config)
        self.streams: dict[int, StreamCore] = {}
        self._dirty: dict[StreamCore, None] = {}
        self._unconfirmed: dict[StreamCore, None] = {}  # moved into h2, not yet written
        self.error: StatusError | None = None
        self.goaway: GoAwayError | None = None  # received from the peer
        self.goaway_sent = False
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
        }

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
        h2c.initiate_connection()
        if s.max_concurrent_streams is not None:
            # The SETTINGS just queued carry our stream limit, but the peer may
            # open more streams until it has read them (RFC 9113, 6.5.3), and
            # h2 treats those as a connection error: enforce the limit only
            # from the peer's ACK on (h2 applies pending values then).
            del local[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS]
            pending = h2.settings.Settings(client=self.client_side, initial_values=local)
            pending[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = s.max_concurrent_streams
            h2c.local_settings = pending
        extra = s.connection_window - 65535
        if extra > 0:
            h2c.increment_flow_control_window(extra)
        self.on_output()

    # ---- bytes in / bytes out ----

    def receive_data(self, data: bytes) -> None:
        """Process received bytes. A protocol violation by the peer fails the
        connection (h2 has queued the GOAWAY, still available from
        :meth:`data_to_send`)."""
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.fail(ConnectionBroken(f"HTTP/2 protocol error from peer: {exc}"))
            self.on_output()
            return
        handlers = self._handlers
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
        h2c = self.h2
        if h2c._data_to_send:
            if h2c.only_ping_acks_queued:
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
            return
        h2c = self.h2
        for stream in list(dirty):
            if stream._flush(h2c):
                dirty.pop(stream, None)

    def data_to_send(self) -> bytes:
        return self.h2.data_to_send()

    @property
    def output_can_wait(self) -> bool:
        """True when all queued output is PING ACKs (after :meth:`flush`):
        a writer may let them wait a moment for the next message."""
        h2c = self.h2
        return bool(h2c._data_to_send) and h2c.only_ping_acks_queued

    def confirm_written(self) -> None:
        """The bytes from the last :meth:`data_to_send` reached the transport
        (including those of streams that ended in the meantime)."""
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
            raise self.error
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
        h2c.send_headers(sid, headers)
        stream = self._stream_factory(self, sid)
        self.streams[sid] = stream
        self.on_output()
        return stream

    @property
    def can_open_stream(self) -> bool:
        h2c = self.h2
        return h2c.open_outbound_streams < h2c.remote_settings.max_concurrent_streams

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Return ``size`` bytes of credit; wakes the writer when h2 made a
        WINDOW_UPDATE of it (h2 batches them: about every half window)."""
        if size:
            h2c = self.h2
            queued = len(h2c._data_to_send)  # may hold PING ACKs that can wait
            h2c.acknowledge_received_data(size, stream_id)
            if len(h2c._data_to_send) != queued:
                self.on_output()

    def reset_stream(self, stream: StreamCore, code: int = ErrorCodes.CANCEL) -> None:
        """Reset ``stream`` locally (RST_STREAM ``code``) and forget it."""
        if not (stream.local_closed and stream.remote_closed) and self.error is None:
            try:
                self.h2.reset_stream(stream.stream_id, code)
            except h2.exceptions.StreamClosedError:
                pass
            self.on_output()
        stream.local_closed = stream.remote_closed = True
        stream._out.clear()
        stream._end = None
        self._dirty.pop(stream, None)
        stream._set_end(StreamReset(ErrorCodes.CANCEL, "stream cancelled locally"))
        stream._wake_senders()
        self._maybe_forget(stream)

    def abort_stream(self, stream: StreamCore, exc: StatusError) -> None:
        """End ``stream`` with ``exc`` because of what the peer sent.

        A client resets the stream (CANCEL) and reports ``exc``; a server
        reports ``exc`` to its handler, which answers with trailers.
        """
        stream._set_end(exc)
        if self.client_side:
            code = ErrorCodes.CANCEL
            if not (stream.local_closed and stream.remote_closed) and self.error is None:
                try:
                    self.h2.reset_stream(stream.stream_id, code)
                except h2.exceptions.StreamClosedError:
                    pass
                self.on_output()
            stream.local_closed = stream.remote_closed = True
            stream._out.clear()
            self._dirty.pop(stream, None)
            stream._wake_senders()
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
        for stream in list(self.streams.values()):
            stream._out.clear()
            stream._end = None
            stream.local_closed = stream.remote_closed = True
            stream._set_end(exc)
            stream._wake_senders()
        self.streams.clear()
        self.on_failed()

    def _maybe_forget(self, stream: StreamCore) -> None:
        if (
            stream.local_closed
            and stream.remote_closed
            and self.streams.pop(stream.stream_id, None) is not None
        ):
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
        headers: Headers = list(event.headers or [])
        if self.goaway_sent:
            self.h2.reset_stream(sid, ErrorCodes.REFUSED_STREAM)
            return
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
        try:
            self.h2.reset_stream(stream.stream_id, code)
        except h2.exceptions.StreamClosedError:
            pass
        stream.local_closed = True
        stream._out.clear()
        stream._end = None
        self._dirty.pop(stream, None)
        stream._wake_senders()
        self._maybe_forget(stream)
        self.on_output()

    def _on_stream_reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            self._dirty.pop(stream, None)
            stream._on_reset(int(event.error_code or 0))

    def _on_window_updated(self, event: h2.events.WindowUpdated) -> None:
        if self._dirty:
            self.on_output()

    def _on_settings_changed(self, event: h2.events.RemoteSettingsChanged) -> None:
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
                stream.local_closed = stream.remote_closed = True
                self._dirty.pop(stream, None)
                stream._set_end(GoAwayError(
                    f"stream not processed: {goaway.message}", code, last))
                stream._wake_senders()
                self._maybe_forget(stream)
        self.on_streams_available()

    def _on_ping_ack(self, event: h2.events.PingAckReceived) -> None:
        self.on_ping_ack(bytes(event.ping_data or b""))


def _reject_requests(stream: StreamCore, headers: Headers) -> None:
    stream.conn.reset_stream(stream, ErrorCodes.REFUSED_STREAM)


def _ignore(_data: bytes) -> None:
    pass
