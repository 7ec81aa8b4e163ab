"""asyncio's native I/O path: an ``asyncio.Protocol`` instead of reader and writer tasks.

:class:`AsyncioProtocolIO` feeds received bytes straight into the core from
the event loop's read callback (no reader task), and writes output with one
``transport.write`` per loop iteration, scheduled with ``call_soon``, so all
messages queued during an iteration leave in one write (no writer task).
:class:`AsyncioListener` is ``asyncio.Server`` as an anyio listener that
hands out such connections. Both run on any asyncio loop (uvloop too);
:class:`~gorums_h2.wire.io_backends.AsyncioBackend` is their one user.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute

from gorums_h2.wire._io import LINGER, IOStrategy, direct_writes, eof_message
from gorums_h2.wire.errors import ConnectionBroken

__all__ = ["BDP_ACK_DELAY", "AsyncioListener", "AsyncioProtocolIO", "mark_asyncio_context"]

# Seconds an ACK of grpc-go's BDP PING may wait for the next write of its
# connection (a request or reply, which grpc-go's per-message PINGs almost
# always precede by less than a call's round trip) before it is written on
# its own. Only grpc-go's bandwidth estimate sees the delay (a longer round
# trip while the connection is idle; it grows windows only from its fastest
# samples); keepalive and our own PINGs are answered within two loop
# iterations. While traffic flows, the timer runs once per delay and
# connection and may wake an idle loop, hence a delay long against a call.
# asyncio only: a countdown task on trio (a sleep per delay and connection)
# cost as much CPU as the two writer steps per read it saved (5 ms: ~150 us
# more per quorum call on the loaded 2-core machine; 50 ms: even), so
# StreamIO wakes its writer, which gives the woken tasks one turn first.
BDP_ACK_DELAY = 0.05


def mark_asyncio_context() -> None:
    """Let anyio recognise asyncio inside protocol callbacks.

    Transports run their callbacks in the context captured when they are
    created, with no current task; anyio then asks sniffio, which (under a
    plain ``asyncio.run``, unlike ``anyio.run``) cannot tell. Call this in
    the task that creates the transports, before creating them.
    """
    try:
        import sniffio
    except ImportError:  # anyio then falls back to asyncio.get_running_loop()
        return
    sniffio.current_async_library_cvar.set("asyncio")


class _Protocol(asyncio.Protocol):
    __slots__ = ("io",)

    def __init__(self, io: AsyncioProtocolIO) -> None:
        self.io = io

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.io._made(transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        io = self.io
        io.last_read = io._loop.time()
        if io._started:
            if io._rest:  # (reading is paused then; this keeps the order if not)
                io._rest += data
                return
            core = io.core
            io._fresh = True
            direct_writes.reads += 1
            rest = io._receive(data)
            if rest:
                io._hold(rest)
            elif io._paused or core.inbound_full:
                io._check_reading()
        else:
            # before the connection runs (uvloop reads before connection_made;
            # a server connection waits for its task): keep it for start(),
            # and read no more until then, so the buffer stays one read
            io._early.append(data)
            io._pause_early()

    def eof_received(self) -> bool | None:
        io = self.io
        if not io._started:
            io._early.append(None)
            return True  # keep the transport until the connection replays this
        core = io.core
        if core.error is None:
            core.fail(ConnectionBroken(eof_message(core)))
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        io = self.io
        if not io._started:
            io._early.append(exc if exc is not None else ConnectionResetError())
            io._lost_early = True
            return
        io._lost(exc)

    def pause_writing(self) -> None:
        self.io._paused = True

    def resume_writing(self) -> None:
        self.io._paused = False
        self.io.wake_writer()
        self.io._check_reading()


class AsyncioProtocolIO(IOStrategy):
    """asyncio's native transport/protocol pair, no reader or writer task."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.protocol = _Protocol(self)
        self._scheduled = False
        self._soon_scheduled = False
        self._bdp_timer = False  # a BDP_ACK_DELAY timer is armed
        self._bdp_since = 0.0  # when the oldest unwritten BDP ACK was queued
        self._flushing = False
        self._again = False
        self._paused = False  # the transport's buffer is full: we do not write
        self._reading_paused = False  # and so stopped reading (see _check_reading)
        self._lingering = False  # half-closed after a failure, closing soon
        self._lost_event = asyncio.Event()
        self._on_made: Any = None
        self._started = False
        self._early: list[bytes | BaseException | None] = []  # before start()
        self._lost_early = False
        self._early_paused = False
        self._rest = b""  # received, not processed yet (ConnectionCore.receive_step)
        self._step_scheduled = False
        # message_queued may write at once: nothing written since the last
        # read, and not called from inside the core's read processing
        self._fresh = True
        self._in_read = False
        self._out_in_read = False  # output queued during a read: write at its end
        # not on uvloop: there, with direct writes, a client kept "writing"
        # to a peer that stopped reading (tests/runtime/test_client_faults.py,
        # test_send_buffer_size_...): its transport never paused nor
        # buffered, so the send queue never filled; not understood yet
        self._direct_ok = not type(self._loop).__module__.startswith("uvloop")

    # --- transport callbacks ---

    def _made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        if self._early and not self._started:
            self._pause_early()  # uvloop: bytes came before connection_made
        if self._on_made is not None:
            self._on_made(self)

    def _lost(self, exc: Exception | None) -> None:
        core = self.core
        if core.error is None:
            if exc is None:
                core.fail(ConnectionBroken(eof_message(core)))
            else:
                core.fail(ConnectionBroken(f"connection lost: {exc!r}"))
        self._lost_event.set()

    def _pause_early(self) -> None:
        transport = self.transport
        if transport is not None and not self._early_paused and not transport.is_closing():
            self._early_paused = True
            transport.pause_reading()

    def start(self) -> None:
        """Replay what arrived before the connection ran, then read on.

        Called by :meth:`Connection.run` once the connection can take
        requests (its task group exists): no byte reaches the core before.
        """
        self.core.on_inbound_drained = self._check_reading
        self._started = True
        early, self._early = self._early, []
        if self._early_paused:
            self._early_paused = False
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()
        for item in early:
            if isinstance(item, bytes):
                self._protocol_data(item)
            elif item is None:
                if self.core.error is None:
                    self.core.fail(ConnectionBroken(eof_message(self.core)))
                if self.transport is not None and not self._lost_early:
                    self.transport.close()
            else:
                self._lost(item if isinstance(item, Exception) else None)

    def _protocol_data(self, data: bytes) -> None:
        if self._rest:
            self._rest += data
            return
        rest = self._receive(data)
        if rest:
            self._hold(rest)

    def _receive(self, data: bytes) -> bytes:
        """One :meth:`ConnectionCore.receive_step`; what it queued for the
        peer (a handler's reply run inline, a WINDOW_UPDATE) is written at
        its end, from this read callback: no loop iteration of its own."""
        self._in_read = True
        try:
            rest = self.core.receive_step(data)
        finally:
            self._in_read = False
        if self._out_in_read:
            self._out_in_read = False
            self._flush()
        return rest

    # --- output ---

    def wake_writer(self) -> None:
        # Everything queued during this loop iteration leaves in one write, by
        # a callback at its end; what a read queued, at the end of the read.
        # (Writing the first message of an iteration at once, and the rest
        # at its end, measured slower for quorum calls: the write to one
        # node woke its server before the next node's write; see
        # message_queued for what is written at once now.)
        if self._in_read:
            self._out_in_read = True
            return
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._end_burst)

    def message_queued(self) -> None:
        # The first message a task queues after a read is written at once,
        # in the caller's own step: the request of a call (to each node of a
        # quorum call in turn), a handler's reply. That saves the loop
        # iteration of the _end_burst callback per message on each side.
        # Everything queued after it until the next read leaves in one write
        # at the end of the iteration as before, so a burst (many callers,
        # a read of many requests) still makes one write, not one each; and
        # so does a quorum call's fan-out (DirectWrites says why).
        if self._in_read:
            self._out_in_read = True  # written at the end of the read
            return
        if self._scheduled:
            return  # a write is due at the end of this iteration anyway
        if (self._fresh and self._direct_ok and not self._in_read and not self._flushing
                and not self._paused
                and direct_writes.allow(asyncio.current_task(self._loop), self)):
            self._flush()
            if self._reading_paused:
                self._check_reading()
            return
        self._scheduled = True
        self._loop.call_soon(self._end_burst)

    def wake_writer_soon(self) -> None:
        # Two loop iterations later, unless a write comes first: the data
        # that brought the PINGs woke a task that is about to queue a message
        # (a call's next request, a handler's reply); its write carries the
        # ACKs. One iteration is not enough: that task runs in the next one
        # and its write is scheduled after this callback would run.
        if self._scheduled or self._soon_scheduled:
            return
        h2c = self.core.h2
        if h2c.only_bdp_acks_queued:
            # grpc-go's per-message BDP PINGs: the next write carries their
            # ACKs, even when it comes a call later (the quorum call's last
            # reply arrives after the next call's requests left); one timer
            # per BDP_ACK_DELAY at most, instead of two callbacks per read
            if h2c.bdp_acks_queued == 1:  # the first since the last write
                self._bdp_since = self.last_read
            if not self._bdp_timer:
                self._bdp_timer = True
                self._loop.call_later(BDP_ACK_DELAY, self._bdp_due)
            return
        self._soon_scheduled = True
        self._loop.call_soon(self._soon_hop)

    def _bdp_due(self) -> None:
        self._bdp_timer = False
        if self._scheduled or not self.core.h2.output_size:
            return  # written meanwhile, or about to be
        wait = self._bdp_since + BDP_ACK_DELAY - self._loop.time()
        if wait > BDP_ACK_DELAY / 10:  # queued after the timer was armed
            self._bdp_timer = True
            self._loop.call_later(wait, self._bdp_due)
        else:
            self._flush()

    def _soon_hop(self) -> None:
        self._loop.call_soon(self._soon_end)

    def _soon_end(self) -> None:
        self._soon_scheduled = False
        if not self._scheduled:
            self._flush()

    def _end_burst(self) -> None:
        self._scheduled = False
        self._flush()
        if self._reading_paused:
            self._check_reading()

    def _hold(self, rest: bytes) -> None:
        """Part of a read is left for later steps: stop reading, and go on
        in the next loop iteration (other callbacks run in between)."""
        self._rest = rest
        transport = self.transport
        if not self._reading_paused and transport is not None and not transport.is_closing():
            self._reading_paused = True
            transport.pause_reading()
        self._schedule_step()

    def _schedule_step(self) -> None:
        if not self._step_scheduled:
            self._step_scheduled = True
            self._loop.call_soon(self._step)

    def _step(self) -> None:
        self._step_scheduled = False
        core = self.core
        transport = self.transport
        if core.error is not None or transport is None or transport.is_closing():
            self._rest = b""
            return
        if core.inbound_full or (self._paused and core.reading_paused()):
            return  # _check_reading schedules the next step once that clears
        rest, self._rest = self._rest, b""
        self._rest = self._receive(rest)
        if self._rest:
            self._schedule_step()
        else:
            self._check_reading()

    def _check_reading(self) -> None:
        """Stop reading while received messages wait to be read beyond the
        core's budget, or while the transport takes no writes and the core
        has too much queued for the peer (it does not read); resume once that
        drains. An output backlog alone never stops reading while writes
        flow: then it only waits for the peer's flow-control window, which
        reading brings."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        core = self.core
        pause = core.error is None and (
            core.inbound_full or (self._paused and core.reading_paused()))
        if self._rest:  # steps of the last read are pending: no new reads yet
            if not pause:
                self._schedule_step()
            pause = True
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def _flush(self) -> None:
        if self._flushing:  # re-entered (e.g. from an acknowledgement): loop below
            self._again = True
            return
        self._flushing = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._flush_once()
        finally:
            self._flushing = False

    def _flush_once(self) -> None:
        transport = self.transport
        if transport is None or self._lingering:
            return
        core = self.core
        if self._paused and core.error is None:
            return
        core.flush()
        data = core.data_to_send()
        if data:
            if transport.is_closing():
                return
            self._fresh = False
            transport.write(data)
            core.confirm_written()
        if core.error is not None and not transport.is_closing():
            # the connection failed (e.g. the peer broke HTTP/2): the GOAWAY
            # written above goes out, then the socket closes and run() returns;
            # half-closed first for LINGER seconds, input discarded (the core
            # ignores it), where the transport can: closing with unread input
            # sends a TCP reset, which can make the peer lose the GOAWAY
            if core.rejected_peer and transport.can_write_eof():
                self._lingering = True
                try:
                    transport.write_eof()
                except OSError:
                    transport.close()
                    return
                if self._reading_paused:
                    self._reading_paused = False
                    transport.resume_reading()
                self._loop.call_later(LINGER, transport.close)
            else:
                transport.close()

    @property
    def write_backlog(self) -> int:
        transport = self.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    # --- lifecycle ---

    @property
    def peer(self) -> Any:
        return self.transport.get_extra_info("peername") if self.transport else None

    def extra(self, attribute: Any, default: Any = None) -> Any:
        if self.transport is None:
            return default
        if attribute is SocketAttribute.remote_address:
            return self.transport.get_extra_info("peername", default)
        if attribute is SocketAttribute.local_address:
            return self.transport.get_extra_info("sockname", default)
        if attribute is SocketAttribute.raw_socket:
            return self.transport.get_extra_info("socket", default)
        if attribute is TLSAttribute.ssl_object:
            return self.transport.get_extra_info("ssl_object", default)
        if attribute is TLSAttribute.alpn_protocol:
            ssl_object = self.transport.get_extra_info("ssl_object")
            if ssl_object is None:
                return default
            return ssl_object.selected_alpn_protocol()
        return default

    async def run(self, tg: anyio.abc.TaskGroup) -> None:
        self.wake_writer()
        await self._lost_event.wait()

    async def abort(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def close(self) -> None:
        transport = self.transport
        if transport is None:
            return
        self._paused = False
        self._flush()
        if not transport.is_closing():
            transport.close()
        with anyio.move_on_after(1.0):
            await self._lost_event.wait()
        if not self._lost_event.is_set():
            transport.abort()


class AsyncioListener(anyio.abc.Listener[AsyncioProtocolIO]):
    """An ``asyncio.Server`` as an anyio listener of native connections.

    :meth:`serve` calls ``handler(io)`` in a task of ``task_group`` for each
    accepted connection, with its :class:`AsyncioProtocolIO` (no core
    attached yet: received bytes wait for :meth:`AsyncioProtocolIO.start`).
    Connections accepted before :meth:`serve` runs are handed over when it
    starts; one whose ``connection_made`` comes after :meth:`serve` returned
    is aborted (uvloop runs it later for a connection accepted just before
    ``close()``, when nobody would serve it).
    """

    def __init__(self, server: asyncio.Server | None = None) -> None:
        self.server = server
        self._pending: list[AsyncioProtocolIO] = []
        self._spawn: Callable[[AsyncioProtocolIO], None] | None = None
        self._done = False

    @classmethod
    async def create(cls, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                     handshake_timeout: float = 3600.0) -> AsyncioListener:
        """Bind and listen (an ``OSError`` if the address is taken)."""
        listener = cls()
        mark_asyncio_context()
        listener.server = await asyncio.get_running_loop().create_server(
            listener._protocol, host, port, ssl=ssl_context,
            ssl_handshake_timeout=handshake_timeout if ssl_context is not None else None)
        return listener

    def _protocol(self) -> asyncio.Protocol:
        io = AsyncioProtocolIO()
        io._on_made = self._made
        return io.protocol

    def _made(self, io: AsyncioProtocolIO) -> None:
        if self._done:
            assert io.transport is not None
            io.transport.abort()
        elif self._spawn is None:
            self._pending.append(io)
        else:
            self._spawn(io)

    async def serve(self, handler: Callable[[AsyncioProtocolIO], Any],
                    task_group: anyio.abc.TaskGroup | None = None) -> None:
        async with AsyncExitStack() as stack:
            tg: anyio.abc.TaskGroup = (
                task_group if task_group is not None
                else await stack.enter_async_context(anyio.create_task_group()))

            def spawn(io: AsyncioProtocolIO) -> None:
                tg.start_soon(handler, io)

            self._spawn = spawn
            try:
                pending, self._pending = self._pending, []
                for io in pending:
                    spawn(io)
                await anyio.sleep_forever()
            finally:
                self._spawn = None
                self._done = True

    async def aclose(self) -> None:
        self._done = True
        if self.server is not None:
            self.server.close()
        for io in self._pending:  # accepted, never served
            if io.transport is not None:
                io.transport.abort()
        self._pending.clear()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        server = self.server
        if server is None or not server.sockets:
            return {}
        sock = server.sockets[0]
        return {SocketAttribute.local_address: sock.getsockname,
                SocketAttribute.family: lambda: sock.family}
