"""The per-node channel: one NodeStream to one server, kept alive.

A :class:`NodeChannel` connects when its node is created (in the manager's
task group), opens ``/ordering.Gorums/NodeStream``, and reconnects with
backoff after failures, in the background. Calls hand it whole envelopes
synchronously with :meth:`NodeChannel.send`, in call order, so FIFO order per
node is the order of the calls; everything queued for the node goes out in one
write. Replies are routed by seq number to the call that registered a
:class:`Route`; a streaming route stays until its call removes it.

A node that is down never blocks a call: :meth:`send` raises UNAVAILABLE at
once (only while the very first connection attempt is in progress are
messages held, and sent or failed when it ends). When a stream dies, every
route of that channel gets the error, and routes never outlive their call.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio

from gorums_h2 import _telemetry
from gorums_h2.backoff import Backoff
from gorums_h2.codec import split
from gorums_h2.errors import NodeShutdownError
from gorums_h2.pb import ordering_pb2
from gorums_h2.wire.client import ClientConnection, ClientStream, open_io
from gorums_h2.wire.connection import Signal
from gorums_h2.wire.errors import ConnectionBroken, ConnectionClosed, GoAwayError
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.status import StatusCode, StatusError

if TYPE_CHECKING:
    from gorums_h2.node import Node

__all__ = ["NODE_STREAM_PATH", "ChannelOptions", "NodeChannel", "Route"]

NODE_STREAM_PATH = "/ordering.Gorums/NodeStream"
CONTENT_SUBTYPE = "gorums"

_parse_metadata = ordering_pb2.Metadata.FromString


class Route(Protocol):
    """Where replies for one call go (implemented by the call)."""

    streaming: bool
    sent_at: float

    def deliver(self, node: Node, md: ordering_pb2.Metadata, payload: bytes) -> None:
        """A reply from ``node`` (may carry a status in ``md``)."""

    def fail(self, node: Node, exc: BaseException) -> None:
        """``node`` can no longer answer this call."""


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    """Manager-wide settings every channel uses."""

    ssl_context: ssl.SSLContext | None
    server_hostname: str | None
    wire_settings: WireSettings
    backoff: Backoff
    metadata: Metadata
    per_node_metadata: Callable[[int], object] | None
    send_buffer_size: int
    logger: logging.Logger


class NodeChannel:
    """Connection state and reply routing for one node (see module doc)."""

    def __init__(self, host: str, port: int, options: ChannelOptions) -> None:
        self.host = host
        self.port = port
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.options = options
        self.node: Node  # set by the manager right after construction
        self.routes: dict[int, Route] = {}
        self.stream: ClientStream | None = None
        self.conn: ClientConnection | None = None
        self.latency: float | None = None
        self.last_err: BaseException | None = None
        self._first_attempt_done = False
        self._held: list[tuple[int, bytes, Route | None]] = []  # during the first attempt
        self._held_signal: list[anyio.Event] = []
        self._closing = False
        self._stop_scope: anyio.CancelScope | None = None
        self._tickets: deque[int] = deque()  # write tickets, when send_buffer_size bounds the queue
        self.state_changed = Signal()  # set when the stream is established or lost

    @property
    def connected(self) -> bool:
        return self.stream is not None

    # ---- sending ----

    def send(self, seq: int, envelope: bytes, route: Route | None) -> int:
        """Queue ``envelope`` for the node and register ``route`` for its replies.

        Returns a write ticket (0 while the first connection attempt is still
        running). Raises a StatusError (UNAVAILABLE) if the node is down.
        """
        stream = self.stream
        if stream is None:
            if not self._first_attempt_done and not self._closing:
                if route is not None:
                    self.routes[seq] = route
                self._held.append((seq, envelope, route))
                return 0
            raise self.unavailable()
        if route is not None:
            self.routes[seq] = route
        try:
            ticket = stream.send_nowait(envelope)
        except StatusError:
            if route is not None:
                self.routes.pop(seq, None)
            raise
        if self.options.send_buffer_size:
            self._tickets.append(ticket)
        return ticket

    def unavailable(self) -> StatusError:
        """The error for a call to this node while it is not connected."""
        err = self.last_err
        if isinstance(err, StatusError) and err.code == StatusCode.UNAVAILABLE:
            return err
        reason = f": {err}" if err is not None else ""
        return ConnectionBroken(f"node {self.address} is not connected{reason}")

    def must_wait(self) -> bool:
        """True if a sender should ``await prepare()`` before :meth:`send`."""
        if not self._first_attempt_done:
            return not self._closing
        stream = self.stream
        return stream is not None and (
            bool(self.options.send_buffer_size)
            or stream.queued - stream.written > self.options.wire_settings.send_buffer_bytes
        )

    async def prepare(self) -> None:
        """Wait for the first connection attempt and for send capacity."""
        await self.wait_ready()
        await self.wait_capacity()

    async def wait_capacity(self) -> None:
        """Wait while the node's send buffer is full (back-pressure)."""
        stream = self.stream
        if stream is None:
            return
        await stream.wait_send_capacity()
        limit = self.options.send_buffer_size
        if limit:
            tickets = self._tickets
            while True:
                written = stream.written
                while tickets and tickets[0] <= written:
                    tickets.popleft()
                if len(tickets) < limit or stream.finished:
                    return
                await stream.wait_written(tickets[0])

    async def wait_ready(self) -> None:
        """Wait for the outcome of the first connection attempt."""
        while not self._first_attempt_done and not self._closing:
            event = anyio.Event()
            self._held_signal.append(event)
            await event.wait()

    def remove_route(self, seq: int) -> None:
        self.routes.pop(seq, None)

    # ---- receiving ----

    def _on_message(self, body: bytes) -> None:
        try:
            md_bytes, payload = split(body)
            md = _parse_metadata(md_bytes)
        except Exception as exc:
            self.options.logger.warning(
                "node %s: dropping undecodable reply: %s", self.address, exc)
            return
        seq = md.message_seq_no
        route = self.routes.get(seq)
        if route is None:
            return  # a late reply to a call that ended (cancelled, timed out, or one-way)
        if not route.streaming:
            del self.routes[seq]
        sample = time.monotonic() - route.sent_at
        lat = self.latency
        self.latency = sample if lat is None else lat * 0.8 + sample * 0.2
        route.deliver(self.node, md, payload)

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
                    await anyio.sleep(self.options.backoff.delay(max(attempt - 1, 0)))
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
        async with anyio.create_task_group() as tg:
            await tg.start(conn.run)
            try:
                try:
                    stream = await conn.open_stream(
                        NODE_STREAM_PATH, metadata=self._stream_metadata(), subtype=CONTENT_SUBTYPE
                    )
                except StatusError as exc:
                    self._lost(exc)
                    return False
                stream.on_message = self._on_message
                self.conn = conn
                self.stream = stream
                self.last_err = None
                established = True
                self._end_first_attempt(None)
                self.state_changed.set()
                hooks = _telemetry.hooks
                if hooks is not None:
                    hooks.connected(self)
                await stream.wait_closed()
                self._lost(self._stream_error(stream, conn))
            finally:
                self.stream = None
                self.conn = None
                with anyio.CancelScope(shield=True):
                    await conn.aclose()
        return established

    def _stream_metadata(self) -> Metadata:
        opts = self.options
        md = opts.metadata.copy()
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
            return err
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
        held, self._held = self._held, []
        stream = self.stream
        for seq, envelope, route in held:
            if exc is None and stream is not None:
                try:
                    stream.send_nowait(envelope)
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
