"""The per-node channel: one NodeStream to one server, kept alive.

A :class:`NodeChannel` connects when its node is created (in the manager's
task group), opens the NodeStream of its wire (``/ordering.Gorums/NodeStream``
or ``/stream.Gorums/NodeStream``, :class:`~gorums_h2.codec.WireProtocol`), and
reconnects with backoff after failures, in the background. Calls hand it whole
encoded messages
synchronously with :meth:`NodeChannel.send`, in call order, so FIFO order per
node is the order of the calls; everything queued for the node goes out in one
write. Replies are routed by seq number to the call that registered a
:class:`Route`; a streaming route stays until its call removes it.

A node that is down or stalled never blocks a call: :meth:`send` raises
UNAVAILABLE at once when the node is not connected, or when its send queue is
full (more than ``send_buffer_bytes`` unwritten): quorum calls and
multicasts fail that node's part and go on with the others, while ordered
RPCs and unicasts first :meth:`wait_room`, bounded by their call. The
optional ``send_buffer_size`` message limit makes quorum calls and
multicasts wait only briefly for a draining queue (:meth:`wait_count_room`). While the very
first connection attempt is in progress, messages are held (up to
``send_buffer_bytes``) and sent or failed when it ends. When a stream
dies, every route of that channel gets the error, and routes never outlive
their call. A :class:`~gorums_h2.liveness.LivenessProbe` watches each
connection and breaks it when the peer stops answering.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from gorums_h2 import _telemetry
from gorums_h2.codec import SERVER_CALL_BIT, WIRES, Envelope, EnvelopeError, WireProtocol
from gorums_h2.errors import NodeShutdownError, WireMismatchError
from gorums_h2.liveness import LivenessProbe
from gorums_h2.nodelist import canonical_address
from gorums_h2.routes import (
    STALLED_AFTER,
    ChannelOptions,
    Route,
    SendQueueFull,
    size_text,
)
from gorums_h2.wire.client import ClientConnection, ClientStream, open_io
from gorums_h2.wire.clock import loop_clock
from gorums_h2.wire.errors import ConnectionBroken, ConnectionClosed, GoAwayError, reraisable
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.signal import Signal
from gorums_h2.wire.status import StatusCode, StatusError

if TYPE_CHECKING:
    from gorums_h2.node import Node

__all__ = [
    "STALLED_AFTER",
    "ChannelOptions",
    "NodeChannel",
    "Route",
    "SendQueueFull",
    "wait_for_draining",
]


class NodeChannel:
    """Connection state and reply routing for one node (see module doc)."""

    def __init__(self, host: str, port: int, options: ChannelOptions) -> None:
        self.host = host
        self.port = port
        self.address = canonical_address(host, port)
        self.options = options
        self.node: Node  # set by the manager right after construction
        self.routes: dict[int, Route] = {}
        self.stream: ClientStream | None = None
        self.conn: ClientConnection | None = None
        self.latency: float | None = None
        self.last_err: BaseException | None = None
        self._first_attempt_done = False
        self._reopening = False  # a new stream is being opened on the same connection
        self._held: list[tuple[int, bytes, Route | None]] = []  # during the first attempt
        self._held_bytes = 0
        self._now = loop_clock()  # the loop's clock, also in I/O callbacks (_on_message)
        self._created = self._now()
        self._limit_bytes = options.wire_settings.send_buffer_bytes
        self.received = 0  # reply messages received (the liveness probe reads it)
        self._held_signal: list[anyio.Event] = []
        self._closing = False
        self._stop_scope: anyio.CancelScope | None = None
        # (write ticket, queued at) of unwritten messages, when send_buffer_size is set
        self._tickets: deque[tuple[int, float]] = deque()
        self.state_changed = Signal()  # set when the stream is established or lost
        self._decode = options.wire.decode
        self._serve_request: Callable[[Envelope], None] | None = None  # back-channel

    @property
    def connected(self) -> bool:
        return self.stream is not None

    @property
    def closing(self) -> bool:
        """True once the channel stops for good (its manager closes)."""
        return self._closing

    # ---- sending ----

    def send(self, seq: int, envelope: bytes, route: Route | None, *,
             force: bool = False) -> int:
        """Queue ``envelope`` for the node and register ``route`` for its replies.

        Returns a write ticket (0 while the first connection attempt is still
        running). Raises a StatusError (UNAVAILABLE) if the node is down, and
        :class:`SendQueueFull` if its queue is full or stalled (see
        :meth:`room_error`) unless ``force`` (fire-and-forget unicast queues
        regardless).
        """
        stream = self.stream
        if stream is None:
            if (not self._first_attempt_done or self._reopening) and not self._closing:
                if not force and self._held_bytes > self._limit_bytes:
                    raise self._held_full()
                if route is not None:
                    self.routes[seq] = route
                self._held.append((seq, envelope, route))
                self._held_bytes += len(envelope)
                return 0
            raise self.unavailable()
        if not force and stream.queued - stream.written > self._limit_bytes:
            raise self._queue_full(stream)
        if route is not None:
            self.routes[seq] = route
        try:
            ticket = stream.send_nowait(envelope)
        except StatusError:
            if route is not None:
                self.routes.pop(seq, None)
            raise
        if self.options.send_buffer_size:
            self._tickets.append((ticket, self._now()))
        return ticket

    def unavailable(self) -> StatusError:
        """The error for a call to this node while it is not connected."""
        if self._closing:
            return ConnectionClosed(f"node {self.address}: the manager is closed")
        err = self.last_err
        if isinstance(err, WireMismatchError) or (
                isinstance(err, StatusError) and err.code == StatusCode.UNAVAILABLE):
            return reraisable(err)  # raised by every call while the node is down
        reason = f": {err}" if err is not None else ""
        return ConnectionBroken(f"node {self.address} is not connected{reason}")

    def room_error(self) -> StatusError | None:
        """Why :meth:`send` would refuse a message to this node now, or None.

        UNAVAILABLE when the node is down; :class:`SendQueueFull` when more
        than ``send_buffer_bytes`` are unwritten (flow control, or a socket
        that does not drain; held messages count while the first connection
        attempt runs). The ``send_buffer_size`` message limit never refuses:
        callers that may wait for it do (:meth:`wait_room`,
        :meth:`wait_count_room`), the others queue beyond it — the byte limit
        bounds the queue either way.
        """
        stream = self.stream
        if stream is None:
            if (self._first_attempt_done and not self._reopening) or self._closing:
                return self.unavailable()
            return self._held_full() if self._held_bytes > self._limit_bytes else None
        if stream.queued - stream.written > self._limit_bytes:
            return self._queue_full(stream)
        return None

    def must_wait_room(self) -> bool:
        """False when a caller that waits for room (:meth:`wait_room`) surely
        need not: the stream is up, under the byte limit, and no
        ``send_buffer_size`` count is kept. True: ask :meth:`room_error` and
        :meth:`count_full` (a cheap test for every ordered RPC and unicast)."""
        stream = self.stream
        return (stream is None or bool(self._tickets)
                or stream.queued - stream.written > self._limit_bytes)

    def count_full(self) -> bool:
        """True while ``send_buffer_size`` messages are unwritten (0: never)."""
        stream = self.stream
        return bool(self._tickets) and stream is not None and self._count_full(stream)

    def _count_full(self, stream: ClientStream) -> bool:
        tickets = self._tickets
        written = stream.written
        while tickets and tickets[0][0] <= written:
            tickets.popleft()
        return len(tickets) >= self.options.send_buffer_size

    def _queue_full(self, stream: ClientStream) -> SendQueueFull:
        unwritten = stream.queued - stream.written
        waited = self._now() - stream.progress_at
        return SendQueueFull(
            f"node {self.address}: send queue full: {size_text(unwritten)} unwritten"
            f" for {waited:.1f} s")

    def _held_full(self) -> SendQueueFull:
        return SendQueueFull(
            f"node {self.address}: send queue full: {size_text(self._held_bytes)} in"
            f" {len(self._held)} messages held while connecting for"
            f" {self._now() - self._created:.1f} s")

    async def wait_room(self) -> None:
        """Wait until the first connection attempt ended and the queue has
        room by both limits (back-pressure, as grpc-go's SendMsg waits for
        write quota). Unbounded by itself: callers bound it with their call's
        timeout or cancel scope. Returns early if the stream fails (then
        :meth:`send` raises its error)."""
        await self.wait_ready()
        while True:
            stream = self.stream
            if stream is None or stream.finished:
                return
            try:
                if stream.queued - stream.written > self._limit_bytes:
                    await stream.wait_send_capacity()
                    continue
                if self._tickets and self._count_full(stream):
                    await stream.wait_written(self._tickets[0][0])
                    continue
            except StatusError:
                return
            return

    async def wait_count_room(self, deadline: float | None) -> None:
        """For callers that must not wait for a stalled node (quorum calls,
        multicast): while ``send_buffer_size`` messages are unwritten, wait
        for room — until ``deadline`` (the loop's clock, ``anyio.current_time()``), or until the
        oldest unwritten message has waited :data:`STALLED_AFTER` seconds
        (the node does not drain, or this event loop is too busy to write:
        the message is then queued beyond the limit, and the byte limit
        decides)."""
        while True:
            stream = self.stream
            if stream is None or not self._tickets or not self._count_full(stream):
                return
            now = self._now()
            wait = self._tickets[0][1] + STALLED_AFTER - now
            if deadline is not None:
                wait = min(wait, deadline - now)
            if wait <= 0:
                return
            with anyio.move_on_after(wait):
                try:
                    await stream.wait_written(self._tickets[0][0])
                except StatusError:
                    return

    async def wait_ready(self) -> None:
        """Wait for the outcome of the first connection attempt."""
        while (not self._first_attempt_done or self._reopening) and not self._closing:
            event = anyio.Event()
            self._held_signal.append(event)
            await event.wait()

    def remove_route(self, seq: int) -> None:
        self.routes.pop(seq, None)

    # ---- receiving ----

    def _on_message(self, body: bytes) -> None:
        try:
            env = self._decode(body)
        except EnvelopeError as exc:
            self.options.logger.warning(
                "node %s: dropping undecodable reply: %s", self.address, exc)
            return
        self.received += 1
        serve = self._serve_request
        if serve is not None and env.seq & SERVER_CALL_BIT:
            serve(env)  # a request from the server (its own task; no ordering)
            return
        self._route(env)

    def _route(self, env: Envelope) -> None:
        seq = env.seq
        route = self.routes.get(seq)
        if route is None:
            return  # a late reply to a call that ended (cancelled, timed out, or one-way)
        if not route.streaming:
            del self.routes[seq]
        sample = self._now() - route.sent_at
        lat = self.latency
        self.latency = sample if lat is None else lat * 0.8 + sample * 0.2
        route.deliver(self.node, env)

    def _fail_routes(self, exc: BaseException) -> None:
        routes = self.routes
        if not routes:
            return
        self.routes = {}
        node = self.node
        for route in routes.values():
            route.fail(node, exc)

    # ---- lifecycle ----

    async def run(self) -> None:
        """Connect, serve the stream, reconnect with backoff; until cancelled."""
        attempt = 0
        try:
            with anyio.CancelScope() as scope:
                self._stop_scope = scope
                while not self._closing:
                    connected = await self._connect_and_serve()
                    if self._closing:
                        break
                    attempt = 0 if connected else attempt + 1
                    delay = self.options.backoff.delay(max(attempt - 1, 0), self.options.rng)
                    await anyio.sleep(delay)
        finally:
            self._closing = True
            self._end_first_attempt(ConnectionClosed("manager closed"))
            self.stream = None
            self.state_changed.set()
            self._fail_routes(ConnectionClosed(f"node {self.address}: manager closed"))

    def stop(self) -> None:
        """Stop reconnecting and close the connection (run() returns)."""
        self._closing = True
        if self._stop_scope is not None:
            self._stop_scope.cancel()

    async def _connect_and_serve(self) -> bool:
        """One connection's lifetime; True if the stream was established."""
        opts = self.options
        try:
            io = await open_io(
                self.host,
                self.port,
                ssl_context=opts.ssl_context,
                server_hostname=opts.server_hostname,
                connect_timeout=opts.wire_settings.connect_timeout,
                settings=opts.wire_settings,
            )
        except StatusError as exc:
            self._lost(exc)
            return False
        conn = ClientConnection(
            io,
            authority=self.address,
            scheme="https" if opts.ssl_context is not None else "http",
            settings=opts.wire_settings,
        )
        established = False
        watch = anyio.CancelScope()
        reopened_at: float | None = None
        async with anyio.create_task_group() as tg:
            await tg.start(conn.run)
            try:
                while True:
                    try:
                        wire = opts.wire
                        stream = await conn.open_stream(
                            wire.path, metadata=self._stream_metadata(), subtype=wire.subtype
                        )
                    except StatusError as exc:
                        self._lost(exc)
                        self._end_reopen(exc)
                        return established
                    if opts.back_channel is not None:
                        self._serve_request = opts.back_channel.back_channel_dispatcher(
                            stream, wire, tg.start_soon)
                    stream.on_message = self._on_message
                    self.conn = conn
                    self.stream = stream
                    self.last_err = None
                    self._end_first_attempt(None)
                    self._end_reopen(None)
                    self.state_changed.set()
                    if not established:
                        established = True
                        hooks = _telemetry.hooks
                        if hooks is not None:
                            hooks.connected(self)
                    if opts.wire_settings.peer_probe_after is not None:
                        watch = anyio.CancelScope()
                        tg.start_soon(self._watch_peer, conn, stream, watch)
                    await stream.wait_closed()
                    watch.cancel()
                    err = self._stream_error(stream, conn)
                    now = self._now()
                    if (self._closing or not _may_reopen(conn, err)
                            or (reopened_at is not None and now - reopened_at < REOPEN_INTERVAL)):
                        self._lost(err)
                        break
                    # The server ended the NodeStream but the connection is
                    # fine (Go v0.11 does so for an oversized or undecodable
                    # message): open a new stream on it at once, as Go's
                    # client does on its next send, holding calls meanwhile.
                    reopened_at = now
                    self._reopening = True
                    self._lost(err)
                    self._serve_request = None
            finally:
                watch.cancel()
                self.stream = None
                self.conn = None
                self._serve_request = None
                last = self.last_err
                self._end_reopen(last if isinstance(last, StatusError) else ConnectionBroken(
                    f"node {self.address}: connection closed"))
                with anyio.CancelScope(shield=True):
                    await conn.aclose()
                # server-initiated calls still running lost their stream
                tg.cancel_scope.cancel()
        return established

    async def _watch_peer(self, conn: ClientConnection, stream: ClientStream,
                          scope: anyio.CancelScope) -> None:
        """Break the connection when its peer stops answering (see
        :mod:`gorums_h2.liveness`); ends with the stream (``scope``)."""
        settings = self.options.wire_settings
        assert settings.peer_probe_after is not None
        probe = LivenessProbe(settings.peer_probe_after, settings.peer_probe_timeout,
                              settings.peer_probe_min_interval)
        tick = min(0.5, probe.after / 4)
        with scope:
            while stream.end_error is None:
                await anyio.sleep(tick)
                now = self._now()
                outstanding = bool(self.routes)
                undrained = stream.queued != stream.written or conn.io.write_backlog > 0
                if not probe.should_ping(now, outstanding or undrained, conn.last_read,
                                         self.received):
                    continue
                what = "replies outstanding" if outstanding else "writes not drained"
                busy = probe.busy_for(now)
                probe.ping_sent(now, self.received)
                try:
                    with anyio.move_on_after(probe.timeout):
                        await conn.ping()
                        probe.ping_acked(anyio.current_time(), self.received)
                        continue
                except StatusError:
                    return  # the connection failed meanwhile
                conn.fail(ConnectionBroken(
                    f"node {self.address}: no PING ACK within {probe.timeout:g} s,"
                    f" {what} for {busy:.1f} s"))
                return

    def _stream_metadata(self) -> Metadata:
        opts = self.options
        md = opts.metadata.copy()
        if opts.node_id_header is not None and opts.wire.back_channel_header is not None:
            md.add(opts.wire.back_channel_header, opts.node_id_header)
        if opts.per_node_metadata is not None:
            extra = opts.per_node_metadata(self.node.id)
            if extra:
                md.extend(extra)  # type: ignore[arg-type]
        return md

    def _stream_error(self, stream: ClientStream, conn: ClientConnection) -> StatusError:
        err = stream.end_error
        goaway = conn.core.goaway
        if goaway is not None and goaway.h2_code == 0:
            detail = err.message if isinstance(err, StatusError) else goaway.message
            return NodeShutdownError(f"node {self.address} shut down: {detail}")
        if isinstance(err, GoAwayError):
            return err
        if isinstance(err, StatusError):
            return _explain_refusal(err, self.options.wire)
        # EndOfStream: the server closed the NodeStream with status OK
        return ConnectionBroken(f"node {self.address} ended the stream")

    def _lost(self, exc: StatusError) -> None:
        self.stream = None
        self.last_err = exc
        self.state_changed.set()
        self._end_first_attempt(exc)
        self._fail_routes(exc)
        if not self._closing:
            self.options.logger.debug("node %s: %s", self.address, exc)

    def _end_first_attempt(self, exc: StatusError | None) -> None:
        if self._first_attempt_done:
            return
        self._first_attempt_done = True
        self._release_held(exc)

    def _end_reopen(self, exc: StatusError | None) -> None:
        if not self._reopening:
            return
        self._reopening = False
        self._release_held(exc)

    def _release_held(self, exc: StatusError | None) -> None:
        """Send (``exc`` None, on the new stream) or fail the messages held
        while a stream was being opened, and wake :meth:`wait_ready`."""
        held, self._held = self._held, []
        self._held_bytes = 0
        stream = self.stream
        for seq, envelope, route in held:
            if route is not None and seq not in self.routes:
                continue  # its call ended meanwhile (timeout, cancelled): not sent
            if exc is None and stream is not None:
                try:
                    ticket = stream.send_nowait(envelope)
                    if self.options.send_buffer_size:
                        self._tickets.append((ticket, self._now()))
                    continue
                except StatusError as send_exc:
                    failure: StatusError = send_exc
            else:
                failure = exc or self.unavailable()
            if route is not None and self.routes.pop(seq, None) is not None:
                route.fail(self.node, failure)
        for event in self._held_signal:
            event.set()
        self._held_signal.clear()


async def wait_for_draining(nodes: Iterable[Node], deadline: float | None) -> None:
    """Before a quorum call or multicast: :meth:`NodeChannel.wait_count_room`
    for every node whose ``send_buffer_size`` queue is full (free when the
    limit is not set), until ``deadline`` at most."""
    for node in nodes:
        channel = node.channel
        if channel._tickets and channel.count_full():
            await channel.wait_count_room(deadline)


REOPEN_INTERVAL = 1.0
"""A NodeStream the server ends is reopened on the same connection at once at
most once per this many seconds; more often, the channel reconnects with
backoff (a server that ends every stream is not hammered)."""


def _may_reopen(conn: ClientConnection, err: StatusError) -> bool:
    """True if the server ended the NodeStream with a status while the
    connection itself is healthy (no GOAWAY, no connection error), and not
    because it does not serve the wire (UNIMPLEMENTED)."""
    core = conn.core
    return (core.error is None and core.goaway is None
            and not isinstance(err, WireMismatchError | GoAwayError | NodeShutdownError)
            and err.code != StatusCode.UNIMPLEMENTED)


def _explain_refusal(err: StatusError, wire: WireProtocol) -> StatusError:
    """A NodeStream refused as an unknown service or method (grpc-go: ``unknown
    service ordering.Gorums``; our server: ``unknown method NodeStream for service
    stream.Gorums``) means the node speaks the other wire: say so, and how to fix it."""
    if err.code != StatusCode.UNIMPLEMENTED:
        return err
    service = wire.path.lstrip("/").rpartition("/")[0]
    if service not in err.message:
        return err
    others = [w for w in WIRES.values() if w is not wire]
    hint = wire.mismatch_hint(others[0]) if others else ""
    return WireMismatchError(f"{hint} (server said: {err.message})", wire.name)
