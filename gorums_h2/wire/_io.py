"""How a connection's bytes move: two interchangeable I/O strategies.

* :class:`StreamIO` runs over any anyio byte stream (TCP, TLS, in-memory) with
  one reader task and one writer task. Used on trio and for user listeners.
* :class:`AsyncioProtocolIO` is asyncio's native path: an ``asyncio.Protocol``
  feeds received bytes straight into the core from the event loop's read
  callback (no reader task), and output is written with one
  ``transport.write`` per loop iteration, scheduled with ``call_soon``, so all
  messages queued during an iteration leave in one write (no writer task).

Both report failures to the core the same way, so everything above them sees
the same errors on both paths.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.abc import SocketAttribute

from gorums_h2.wire.errors import ConnectionBroken
from gorums_h2.wire.protocol import ConnectionCore
from gorums_h2.wire.signal import Signal

__all__ = [
    "AsyncioProtocolIO",
    "IOStrategy",
    "StreamIO",
    "mark_asyncio_context",
    "native_asyncio_enabled",
    "set_tcp_timeouts",
]

_TRANSPORT_ERRORS = (anyio.BrokenResourceError, anyio.EndOfStream, OSError, ssl.SSLError)

# Tests switch this off to run the generic path on asyncio too.
NATIVE_ASYNCIO = True

# Seconds a connection we failed (after our GOAWAY) is half-closed and its
# input discarded before the close, so the peer reads the GOAWAY.
LINGER = 1.0


def native_asyncio_enabled() -> bool:
    """True when the running loop is asyncio and the native path is enabled."""
    if not NATIVE_ASYNCIO:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


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


def set_tcp_timeouts(sock: Any, keepalive: float | None, user_timeout: float | None) -> None:
    """Enable TCP keepalive (idle time and probe interval ``keepalive``
    seconds, 3 probes) and ``TCP_USER_TIMEOUT`` (``user_timeout`` seconds)
    on a TCP socket, as far as the platform offers them (silently skipped
    where it does not: keepalive timing needs Linux/macOS/Windows options,
    ``TCP_USER_TIMEOUT`` Linux)."""
    if sock is None or getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    options: list[tuple[int, int, int]] = []
    if keepalive is not None:
        seconds = max(1, round(keepalive))
        options.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
        idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
        for name, value in ((idle, seconds),
                            (getattr(socket, "TCP_KEEPINTVL", None), seconds),
                            (getattr(socket, "TCP_KEEPCNT", None), 3)):
            if name is not None:
                options.append((socket.IPPROTO_TCP, name, value))
    user = getattr(socket, "TCP_USER_TIMEOUT", None)
    if user_timeout is not None and user is not None:
        options.append((socket.IPPROTO_TCP, user, max(1, round(user_timeout * 1000))))
    for level, name, value in options:
        try:
            sock.setsockopt(level, name, value)
        except (OSError, AttributeError):
            pass


def _eof_message(core: ConnectionCore) -> str:
    if core.goaway is not None:
        return f"connection closed by peer after GOAWAY ({core.goaway.message})"
    return "connection closed by peer"


class IOStrategy:
    """Moves bytes between a transport and a :class:`ConnectionCore`."""

    core: ConnectionCore
    last_read: float = 0.0

    def attach(self, core: ConnectionCore) -> None:
        self.core = core

    def start(self) -> None:
        """The connection runs (core attached and initiated, its task group
        up): from now on received bytes go to the core."""

    async def run(self, tg: anyio.abc.TaskGroup) -> None:
        """Serve until the connection is dead or closed."""
        raise NotImplementedError

    async def close(self) -> None:
        """Write what is left (bounded wait), then close the transport."""
        raise NotImplementedError

    def wake_writer(self) -> None:
        raise NotImplementedError

    def wake_writer_soon(self) -> None:
        """Like :meth:`wake_writer` for output that may wait a little (PING
        ACKs): it should leave with the next write if one follows at once."""
        self.wake_writer()

    @property
    def write_backlog(self) -> int:
        """Bytes marked written but still buffered in user space (not yet in
        the kernel): asyncio's transport buffer; 0 where writes await the socket."""
        return 0

    @property
    def peer(self) -> Any:
        return None

    def extra(self, attribute: Any, default: Any = None) -> Any:
        return default


class StreamIO(IOStrategy):
    """Reader and writer tasks over an anyio byte stream."""

    def __init__(self, transport: anyio.abc.ByteStream) -> None:
        self.transport = transport
        self._signal = Signal()
        self._writer_done = anyio.Event()
        self._writing = False  # a write is waiting for the transport
        self._drained = Signal()  # set after each completed write

    def wake_writer(self) -> None:
        self._signal.set()

    @property
    def peer(self) -> Any:
        return self.transport.extra(SocketAttribute.remote_address, None)

    def extra(self, attribute: Any, default: Any = None) -> Any:
        return self.transport.extra(attribute, default)

    async def run(self, tg: anyio.abc.TaskGroup) -> None:
        tg.start_soon(self._write_loop)
        await self._read_loop()
        self._signal.set()
        with anyio.move_on_after(1.0):
            await self._writer_done.wait()
        if self.core.rejected_peer:
            await self._half_close_and_drain()

    async def _half_close_and_drain(self) -> None:
        """We failed the connection (our GOAWAY is written): half-close and
        read and discard for up to :data:`LINGER` seconds before the close.
        Closing a socket with unread input sends a TCP reset, which can make
        the peer lose the GOAWAY that tells it why."""
        transport = self.transport
        try:
            await transport.send_eof()
        except Exception:
            return
        with anyio.move_on_after(LINGER):
            while True:
                try:
                    await transport.receive(65536)
                except Exception:
                    return

    async def close(self) -> None:
        self._signal.set()
        with anyio.move_on_after(1.0):
            await self._writer_done.wait()
        try:
            await self.transport.aclose()
        except Exception:
            pass

    def start(self) -> None:
        self.core.on_inbound_drained = self._drained.set

    async def _wait_until_readable(self) -> None:
        """Stop reading while received messages wait to be read beyond the
        core's budget, or while a write waits for the transport and the core
        has too much queued for the peer (it does not read our replies); a
        backlog that only waits for flow control does not stop reading."""
        core = self.core
        while core.error is None and (
                core.inbound_full or (self._writing and core.reading_paused())):
            await self._drained.wait()

    def _write_done(self) -> None:
        self._writing = False
        self._drained.set()

    async def _read_loop(self) -> None:
        core = self.core
        transport = self.transport
        size = core.settings.read_size
        receive_step = core.receive_step
        while core.error is None:
            if self._writing or core.inbound_full:
                await self._wait_until_readable()
            try:
                data = await transport.receive(size)
            except anyio.ClosedResourceError:
                return
            except anyio.EndOfStream:
                core.fail(ConnectionBroken(_eof_message(core)))
                return
            except _TRANSPORT_ERRORS as exc:
                core.fail(ConnectionBroken(f"connection lost: {exc!r}"))
                return
            self.last_read = anyio.current_time()
            rest = receive_step(data)
            while rest and core.error is None:
                await self._before_step()
                rest = receive_step(rest)

    async def _before_step(self) -> None:
        """Between two steps of one read (:meth:`ConnectionCore.receive_step`):
        let other tasks run, and wait as before a read."""
        await anyio.lowlevel.checkpoint()
        if self._writing or self.core.inbound_full:
            await self._wait_until_readable()

    async def _write_loop(self) -> None:
        core = self.core
        transport = self.transport
        can_wait = True
        try:
            while True:
                core.flush()
                if can_wait and core.output_can_wait:
                    # only PING ACKs: the task the same read woke may queue a
                    # message in this batch; give it one turn to join the write
                    can_wait = False
                    await anyio.lowlevel.checkpoint()
                    continue
                data = core.data_to_send()
                if data:
                    self._writing = True
                    try:
                        await transport.send(data)
                    except anyio.ClosedResourceError:
                        return
                    except _TRANSPORT_ERRORS as exc:
                        core.fail(ConnectionBroken(f"write failed: {exc!r}"))
                        return
                    finally:
                        self._write_done()
                    core.confirm_written()
                    continue
                if core.error is not None:
                    return
                await self._signal.wait()
                can_wait = True
        finally:
            self._writer_done.set()


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
            rest = core.receive_step(data)
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
            core.fail(ConnectionBroken(_eof_message(core)))
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
                core.fail(ConnectionBroken(_eof_message(core)))
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
                    self.core.fail(ConnectionBroken(_eof_message(self.core)))
                if self.transport is not None and not self._lost_early:
                    self.transport.close()
            else:
                self._lost(item if isinstance(item, Exception) else None)

    def _protocol_data(self, data: bytes) -> None:
        if self._rest:
            self._rest += data
            return
        rest = self.core.receive_step(data)
        if rest:
            self._hold(rest)

    # --- output ---

    def wake_writer(self) -> None:
        # Everything queued during this loop iteration leaves in one write, by
        # a callback at its end. (Writing the first message at once measured
        # no faster for ping-pong and slower for quorum calls: the write to
        # one node woke its server before the next node's write.)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._end_burst)

    def wake_writer_soon(self) -> None:
        # Two loop iterations later, unless a write comes first: the data
        # that brought the PINGs woke a task that is about to queue a message
        # (a call's next request, a handler's reply); its write carries the
        # ACKs. One iteration is not enough: that task runs in the next one
        # and its write is scheduled after this callback would run.
        if not self._scheduled and not self._soon_scheduled:
            self._soon_scheduled = True
            self._loop.call_soon(self._soon_hop)

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
        self._rest = core.receive_step(rest)
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
        return default

    async def run(self, tg: anyio.abc.TaskGroup) -> None:
        self.wake_writer()
        await self._lost_event.wait()

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
