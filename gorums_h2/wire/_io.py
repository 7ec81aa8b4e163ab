"""How a connection's bytes move: the I/O strategy interface and its generic form.

An :class:`IOStrategy` moves bytes between one transport and one
:class:`ConnectionCore`. Three implement it, and an
:class:`~gorums_h2.wire.io_backends.IOBackend` decides which one a
connection gets:

* :class:`StreamIO` (here) runs over any anyio byte stream (TCP, TLS,
  in-memory) with one reader task and one writer task;
* :class:`~gorums_h2.wire._asyncio_io.AsyncioProtocolIO`, asyncio's native
  protocol path (no reader or writer task);
* :class:`~gorums_h2.wire._trio_io.TrioSocketIO`, StreamIO's tasks on trio's
  raw socket.

All report failures to the core the same way, so everything above them sees
the same errors on every path.
"""

from __future__ import annotations

import socket
import ssl
import weakref
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.abc import SocketAttribute

from gorums_h2.wire.errors import ConnectionBroken
from gorums_h2.wire.protocol import ConnectionCore
from gorums_h2.wire.signal import Signal

__all__ = [
    "LINGER",
    "DirectWrites",
    "IOStrategy",
    "StreamIO",
    "direct_writes",
    "eof_message",
    "set_tcp_timeouts",
]

_TRANSPORT_ERRORS = (anyio.BrokenResourceError, anyio.EndOfStream, OSError, ssl.SSLError)

# Seconds a connection we failed (after our GOAWAY) is half-closed and its
# input discarded before the close, so the peer reads the GOAWAY.
LINGER = 1.0


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


class DirectWrites:
    """Which queued messages an I/O strategy may write at once, in the
    caller's own step (see :meth:`IOStrategy.message_queued`).

    One message at a time to one connection (a call to one node, a
    handler's reply) is best written at once: that saves a loop iteration
    or a writer task step per message on each side. A step that queues to
    several connections (a quorum call's fan-out) is best left to the end
    of the loop iteration, as before: written one by one during the step,
    each write wakes its server while the caller is still preparing the
    next request, and on a small machine they compete for the cores (a
    3-node quorum call measured ~25 % more wall time per call). So the
    second connection a task queues to within one step (no read in
    between) marks the task as one that fans out; such a task never writes
    at once again (it is remembered weakly, for as long as it lives).
    Shared by every connection of the process; readers count their reads
    in :attr:`reads`.
    """

    __slots__ = ("_fanning", "_io", "_reads", "_task", "reads")

    def __init__(self) -> None:
        self.reads = 0  # reads by any connection (a step has none in between)
        self._task = 0  # id of the task of the last direct write (alive in its step)
        self._io = 0  # id of its I/O
        self._reads = -1  # reads when it wrote
        self._fanning: weakref.WeakSet[Any] = weakref.WeakSet()

    def allow(self, task: Any, io: object) -> bool:
        """True when ``task`` may write to ``io`` now; call only when the
        connection could (nothing written since its last read)."""
        if task is None or task in self._fanning:
            return False
        tid = id(task)
        if tid == self._task and self._reads == self.reads and id(io) != self._io:
            self._fanning.add(task)
            return False
        self._task = tid
        self._io = id(io)
        self._reads = self.reads
        return True

    def fans_out(self, task: Any) -> bool:
        """True once ``task`` queued to two connections in one step."""
        return task in self._fanning


direct_writes = DirectWrites()


def eof_message(core: ConnectionCore) -> str:
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

    async def abort(self) -> None:
        """Close the transport at once, writing nothing: for a connection
        refused before it ran (a TLS client without ALPN ``h2``); no core
        needs to be attached."""
        raise NotImplementedError

    def wake_writer(self) -> None:
        raise NotImplementedError

    def message_queued(self) -> None:
        """A task queued a message (:meth:`Stream.send_nowait`), with the
        core consistent: write now when that is cheapest, or as
        :meth:`wake_writer`. Never re-enters the core's read processing."""
        self.wake_writer()

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

    async def abort(self) -> None:
        await anyio.aclose_forcefully(self.transport)

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
                core.fail(ConnectionBroken(eof_message(core)))
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
