"""trio's native I/O path: the raw socket under an anyio TCP stream.

:class:`TrioSocketIO` keeps :class:`~gorums_h2.wire._io.StreamIO`'s shape (one
reader task, one writer task, so writes are coalesced and callers never
touch the socket) but talks to the non-blocking socket directly:

* the reader tries ``recv`` first and waits with
  ``trio.lowlevel.wait_readable`` only when nothing is there, one scheduling
  point per read instead of the two checkpoints plus wrappers of anyio's
  ``SocketStream`` over trio's ``SocketStream`` over a trio socket;
* the writer ``send``\\ s at once and waits with ``wait_writable`` only when
  the kernel buffer is full.

:class:`~gorums_h2.wire.io_backends.TrioBackend` uses it on trio for plain
TCP (TLS keeps StreamIO). The anyio stream stays the owner of the socket and
closes it.
"""

from __future__ import annotations

import socket

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from gorums_h2.wire._io import StreamIO, direct_writes, eof_message
from gorums_h2.wire.errors import ConnectionBroken

__all__ = ["TrioSocketIO", "tcp_socket"]


def tcp_socket(transport: anyio.abc.ByteStream) -> socket.socket | None:
    """The raw TCP socket under ``transport``, None for TLS or any other
    wrapper (those keep the generic path)."""
    if not isinstance(transport, anyio.abc.SocketStream):
        return None  # TLS or another wrapper: keep the generic path
    sock = transport.extra(SocketAttribute.raw_socket, None)
    if not isinstance(sock, socket.socket) or sock.family not in (
            socket.AF_INET, socket.AF_INET6):
        return None
    return sock


class TrioSocketIO(StreamIO):
    """:class:`StreamIO` with its two loops on the raw non-blocking socket (trio only)."""

    def __init__(self, transport: anyio.abc.SocketStream, sock: socket.socket) -> None:
        super().__init__(transport)
        self.sock = sock
        # message_queued may send at once: nothing sent since the last read,
        # not inside the core's read processing, the writer holds no bytes
        self._fresh = True
        self._in_read = False
        self._out_in_read = False  # output queued during a read: sent at its end
        self._left: memoryview | None = None  # what a direct send left, for the writer
        import trio

        self._current_task = trio.lowlevel.current_task
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def wake_writer(self) -> None:
        if self._in_read:
            self._out_in_read = True  # sent at the end of the read
        else:
            self._signal.set()

    def wake_writer_soon(self) -> None:
        self._signal.set()  # PING ACKs alone: the writer lets them wait a turn

    def _receive(self, data: bytes) -> bytes:
        """One :meth:`ConnectionCore.receive_step`; what it queued for the
        peer (a handler's reply run inline, a WINDOW_UPDATE) is sent at its
        end from the reader task: no writer task step for it."""
        self._in_read = True
        try:
            rest = self.core.receive_step(data)
        finally:
            self._in_read = False
        if self._out_in_read:
            self._out_in_read = False
            if self._writing or self._left is not None or self.core.error is not None:
                self._signal.set()  # the writer holds bytes, or closes
            else:
                self._send_now()
        return rest

    def message_queued(self) -> None:
        # As AsyncioProtocolIO.message_queued: the first message a task
        # queues after a read is sent from that task at once (no writer
        # task step, no task switch); later ones until the next read wake
        # the writer, which sends them all in one write, and so does a
        # quorum call's fan-out (DirectWrites says why). Not while the
        # writer holds bytes (it waits for the socket, or has a direct
        # send's rest to finish), so the bytes keep their order.
        if self._in_read:
            self._out_in_read = True
        elif (self._fresh and not self._writing and self._left is None
                and self.core.error is None
                and direct_writes.allow(self._current_task(), self)):
            self._send_now()
        else:
            self._signal.set()

    def _send_now(self) -> None:
        core = self.core
        core.flush()
        data = core.data_to_send()
        if not data:
            return
        self._fresh = False
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            core.fail(ConnectionBroken(f"write failed: {exc!r}"))
            return
        if sent == len(data):
            core.confirm_written()
        else:  # the kernel's buffer is full: the writer sends the rest, then confirms
            self._left = memoryview(data)[sent:]
            self._signal.set()

    async def _read_loop(self) -> None:
        import trio

        wait_readable = trio.lowlevel.wait_readable
        core = self.core
        sock = self.sock
        recv = sock.recv
        size = core.settings.read_size
        receive = self._receive
        while core.error is None:
            if self._writing or core.inbound_full:
                await self._wait_until_readable()
            try:
                data = recv(size)
            except BlockingIOError:
                try:
                    await wait_readable(sock)
                except (trio.ClosedResourceError, OSError):
                    return  # closed by us
                continue
            except OSError as exc:
                core.fail(ConnectionBroken(f"connection lost: {exc!r}"))
                return
            if not data:
                core.fail(ConnectionBroken(eof_message(core)))
                return
            self.last_read = trio.current_time()
            self._fresh = True
            direct_writes.reads += 1
            rest = receive(data)
            while rest and core.error is None:
                await self._before_step()
                rest = receive(rest)
            if core.error is not None:  # e.g. the peer broke HTTP/2
                return
            # one scheduling point per read, fair to the other tasks
            try:
                await wait_readable(sock)
            except (trio.ClosedResourceError, OSError):
                return

    async def _write_loop(self) -> None:
        import trio

        wait_writable = trio.lowlevel.wait_writable
        core = self.core
        sock = self.sock
        send = sock.send
        checkpoint = trio.lowlevel.checkpoint
        can_wait = True
        try:
            while True:
                view = self._left
                if view is None:
                    core.flush()
                    if can_wait and core.output_can_wait:
                        can_wait = False  # only PING ACKs: see StreamIO._write_loop
                        await checkpoint()
                        continue
                    data = core.data_to_send()
                    if data:
                        self._fresh = False
                        view = memoryview(data)
                if view is not None:
                    while view:
                        try:
                            sent = send(view)
                        except BlockingIOError:
                            self._writing = True  # the reader may stop (see StreamIO)
                            try:
                                await wait_writable(sock)
                            except (trio.ClosedResourceError, OSError):
                                return
                            continue
                        except OSError as exc:
                            core.fail(ConnectionBroken(f"write failed: {exc!r}"))
                            return
                        view = view[sent:]
                    self._left = None
                    if self._writing:
                        self._write_done()
                    core.confirm_written()
                    continue
                if core.error is not None:
                    return
                await self._signal.wait()
                can_wait = True
        finally:
            self._write_done()
            self._writer_done.set()
