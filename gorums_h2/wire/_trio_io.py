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

from gorums_h2.wire._io import StreamIO, eof_message
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
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    async def _read_loop(self) -> None:
        import trio

        wait_readable = trio.lowlevel.wait_readable
        core = self.core
        sock = self.sock
        recv = sock.recv
        size = core.settings.read_size
        receive_data = core.receive_data
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
            receive_data(data)
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
                core.flush()
                if can_wait and core.output_can_wait:
                    can_wait = False  # only PING ACKs: see StreamIO._write_loop
                    await checkpoint()
                    continue
                data = core.data_to_send()
                if data:
                    view = memoryview(data)
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
