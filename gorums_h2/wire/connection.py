"""The anyio driver: runs a :class:`ConnectionCore` and gives streams awaitables.

Callers never touch the socket: they queue messages on the core, and the I/O
strategy (:mod:`gorums_h2.wire._io`) writes everything queued in one go, so
cancelling a caller can never leave half a frame on the wire. Waiting is done
on small resettable signals, woken by the core's hooks.

Failure handling follows httpcore's "sticky error": the first failure is
recorded on the core, and every waiter (stream open, send blocked by flow
control or back-pressure, receive) wakes up with that same exception.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

from gorums_h2.wire._io import IOStrategy
from gorums_h2.wire.errors import ConnectionBroken, ConnectionClosed, EndOfStream, reraisable
from gorums_h2.wire.protocol import ConnectionCore, StreamCore
from gorums_h2.wire.signal import Signal  # re-exported: it lived here before wire.signal
from gorums_h2.wire.status import StatusError

__all__ = ["Connection", "Signal", "Stream"]

log = logging.getLogger("gorums_h2.wire")

_FAIR_BURST = 64  # Stream.receive yields at least once per this many messages


class Stream(StreamCore):
    """A gRPC stream with awaitable send and receive (either side).

    * :meth:`receive` returns the next message, raises :class:`EndOfStream`
      when the peer finished cleanly, or the stream's :class:`StatusError`.
    * :meth:`send` waits for buffer space, queues the message and waits until
      it was written to the transport; :meth:`send_nowait` only queues.

    Cancelling any of these waits leaves the stream and connection usable; a
    message already queued is still sent.
    """

    __slots__ = ("_burst", "_message_queued", "_recv_signal", "_send_signal")

    def __init__(self, conn: ConnectionCore, stream_id: int, *, client_side: bool,
                 message_queued: Callable[[], None] | None = None) -> None:
        super().__init__(conn, stream_id, client_side=client_side)
        self._recv_signal = Signal()
        self._send_signal = Signal()
        self._burst = 0  # messages returned in a row without waiting
        # the I/O's IOStrategy.message_queued: may write in the caller's step
        self._message_queued = message_queued if message_queued is not None else conn.on_output

    def _wake_receivers(self) -> None:
        self._recv_signal.set()

    def _wake_senders(self) -> None:
        self._send_signal.set()

    # ---- receiving ----

    async def receive(self) -> bytes:
        """The next message. Raises EndOfStream or the stream's StatusError.

        Yields to other tasks at least every 64 messages, even when they are
        all queued already: a peer that floods one stream with requests
        cannot keep its handler loop from letting other connections run.
        """
        while True:
            if self._inbound or self.end_error is not None:
                self._burst += 1
                if self._burst < _FAIR_BURST:
                    return self.pop_message()
                self._burst = 0
                await anyio.lowlevel.checkpoint()
                continue
            self._burst = 0
            await self._recv_signal.wait()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            try:
                msg = await self.receive()
            except EndOfStream:
                return
            yield msg

    async def wait_closed(self) -> None:
        """Wait until the receive side has ended (any outcome)."""
        while self.end_error is None:
            await self._recv_signal.wait()

    # ---- sending ----

    def send_nowait(self, body: bytes) -> int:
        """Queue one message without waiting; return its write ticket.

        When the connection is idle the message may be written to the
        socket before this returns (see :meth:`IOStrategy.message_queued`);
        either way it leaves in order, after everything queued before it.
        """
        ticket = self._enqueue(body)
        self._message_queued()
        return ticket

    async def send(self, body: bytes) -> None:
        """Queue one message and wait until it was written to the transport."""
        await self.wait_send_capacity()
        await self.wait_written(self.send_nowait(body))

    async def wait_send_capacity(self) -> None:
        """Wait while more than ``send_buffer_bytes`` are queued but unwritten."""
        limit = self.conn.settings.send_buffer_bytes
        while self.queued - self.written > limit:
            if self.local_closed or self.conn.error is not None:
                raise self._send_error()
            await self._send_signal.wait()

    async def wait_written(self, ticket: int) -> None:
        """Wait until the message with ``ticket`` was written to the transport.

        Raises the stream's error if it ended before that happened.
        """
        while self.written < ticket:
            if self.conn.error is not None or (self.local_closed and self.moved < ticket):
                raise self._send_error()
            await self._send_signal.wait()


class Connection:
    """Drives one HTTP/2 connection through an I/O strategy (see :mod:`._io`).

    :meth:`run` serves the connection until it is closed or broken; it never
    raises for connection failures (they are recorded in :attr:`error` and
    delivered to every stream). :meth:`aclose` closes it gracefully (GOAWAY,
    then the transport).
    """

    def __init__(self, io: IOStrategy, core: ConnectionCore) -> None:
        self.io = io
        self.core = core
        io.attach(core)
        self._streams_signal = Signal()
        self._ping_signal = Signal()
        self._pings: dict[bytes, float | None] = {}
        self._pings_sent = 0  # PING payloads: a count, unique per connection and reproducible
        self._closed = anyio.Event()
        self._cancel_scope: anyio.CancelScope | None = None
        self._closing = False
        core.on_output = io.wake_writer
        core.on_control_output = io.wake_writer_soon
        core.on_streams_available = self._streams_signal.set
        core.on_ping_ack = self._on_ping_ack
        core.on_failed = self._on_failed
        core.initiate()  # queued; the bytes leave once the I/O runs

    def _on_failed(self) -> None:
        self.io.wake_writer()
        self._streams_signal.set()
        self._ping_signal.set()

    @property
    def error(self) -> StatusError | None:
        """The sticky error once the connection failed or was closed."""
        return self.core.error

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    @property
    def peer(self) -> Any:
        """The remote address, as the transport reports it."""
        return self.io.peer

    def extra(self, attribute: Any, default: Any = None) -> Any:
        """A typed attribute of the transport (e.g. ``SocketAttribute.remote_address``)."""
        return self.io.extra(attribute, default)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
                  ) -> None:
        """Serve the connection until it is closed or fails."""
        core = self.core
        try:
            async with anyio.create_task_group() as tg:
                self._cancel_scope = tg.cancel_scope
                keepalive = core.settings.keepalive_interval
                if keepalive is not None:
                    tg.start_soon(self._keepalive_loop, keepalive, core.settings.keepalive_timeout)
                self._start_extra_tasks(tg)
                # only now may received bytes reach the core: a server's
                # request dispatch needs the task group (see _io.start)
                self.io.start()
                task_status.started()
                await self.io.run(tg)
                tg.cancel_scope.cancel()
        finally:
            if core.error is None:
                core.fail(ConnectionClosed("connection closed"))
            with anyio.CancelScope(shield=True):
                await self.io.close()
            self._closed.set()

    def _start_extra_tasks(self, tg: anyio.abc.TaskGroup) -> None:
        """Hook for subclasses that need more tasks in the connection's group."""

    async def aclose(self, *, goaway: bool = True) -> None:
        """Close the connection: fail open streams with ConnectionClosed, send
        GOAWAY (when ``goaway``), close the transport, wait for :meth:`run`."""
        if not self._closing:
            self._closing = True
            core = self.core
            if goaway and core.error is None:
                core.send_goaway()
            core.fail(ConnectionClosed("connection closed"))
            with anyio.CancelScope(shield=True):
                await self.io.close()
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await self._closed.wait()

    def fail(self, exc: StatusError) -> None:
        """Fail the connection with ``exc`` and stop its tasks."""
        self.core.fail(exc)
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    @property
    def last_read(self) -> float:
        return self.io.last_read

    async def _keepalive_loop(self, interval: float, ack_timeout: float) -> None:
        while self.core.error is None:
            await anyio.sleep(interval)
            if anyio.current_time() - self.io.last_read < interval:
                continue
            try:
                with anyio.fail_after(ack_timeout):
                    await self.ping()
            except TimeoutError:
                log.warning("keepalive PING not answered within %.1fs; closing", ack_timeout)
                self.fail(ConnectionBroken(f"keepalive PING not answered within {ack_timeout:g}s"))
                return
            except StatusError:
                return

    async def ping(self) -> float:
        """Send a PING and return the round-trip time in seconds.

        Raises the connection's error, or the peer's :class:`GoAwayError`
        once it sent GOAWAY (HTTP/2 allows no new PING then).
        """
        if self.core.error is None and self.core.goaway is not None:
            raise reraisable(self.core.goaway)
        self._pings_sent += 1
        opaque = self._pings_sent.to_bytes(8, "big")
        start = anyio.current_time()
        self._pings[opaque] = None
        try:
            self.core.ping(opaque)
            while self._pings.get(opaque) is None:
                if self.core.error is not None:
                    raise reraisable(self.core.error)
                await self._ping_signal.wait()
        finally:
            acked = self._pings.pop(opaque, None)
        return (acked or anyio.current_time()) - start

    def _on_ping_ack(self, opaque: bytes) -> None:
        if opaque in self._pings:
            self._pings[opaque] = anyio.current_time()
            self._ping_signal.set()
