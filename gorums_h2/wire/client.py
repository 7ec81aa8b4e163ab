"""gRPC client connections: TCP or TLS, any number of bidi streams.

Typical use::

    async with connect("127.0.0.1", 50051) as conn:
        stream = await conn.open_stream("/pkg.Service/Method", subtype="gorums")
        stream.send_nowait(body)
        reply = await stream.receive()

A :class:`ClientConnection` can also run inside a task group of your own:
create its I/O with :func:`open_io`, then ``await tg.start(conn.run)``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import h2.exceptions

from gorums_h2.wire._hpack import MAX_SEND_HEADER_LIST_SIZE, header_list_size, install
from gorums_h2.wire._io import IOStrategy
from gorums_h2.wire.clock import loop_clock
from gorums_h2.wire.connection import Connection, Stream
from gorums_h2.wire.errors import HeaderListTooLarge, reraisable
from gorums_h2.wire.headers import USER_AGENT, build_request_headers
from gorums_h2.wire.io_backends import open_transport, select_io_backend
from gorums_h2.wire.metadata import Metadata, MetadataLike
from gorums_h2.wire.protocol import ConnectionCore
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.signal import Signal

__all__ = [
    "ClientConnection",
    "ClientStream",
    "client_ssl_context",
    "connect",
    "open_io",
    "open_transport",
]

_DEFAULT_SETTINGS = WireSettings()


class ClientStream(Stream):
    """The client end of a gRPC call (bidi-capable).

    After the call: ``initial_metadata`` (response headers), ``trailing_metadata``
    and ``status`` (None for OK) are set; :meth:`receive` raises EndOfStream on
    OK and the :class:`StatusError` otherwise. ``progress_at``
    (the loop's clock, :mod:`~gorums_h2.wire.clock`) is when queued bytes were last written (or the
    stream was opened): how long a full queue has not drained.
    """

    __slots__ = ("_now", "progress_at")

    def __init__(self, conn: ConnectionCore, stream_id: int,
                 message_queued: Callable[[], None] | None = None) -> None:
        super().__init__(conn, stream_id, client_side=True, message_queued=message_queued)
        self._now = loop_clock()  # _wake_senders runs in I/O callbacks too
        self.progress_at = self._now()

    def _wake_senders(self) -> None:
        self.progress_at = self._now()
        self._send_signal.set()

    def end(self) -> None:
        """Half-close: tell the server that no more messages follow."""
        self.queue_end()

    def cancel(self) -> None:
        """Abandon the call (RST_STREAM CANCEL); waiters get StreamClosed."""
        if not (self.local_closed and self.remote_closed):
            self.conn.reset_stream(self)

    async def wait_initial_metadata(self) -> Metadata:
        """Wait for the response headers (Go servers send them with the first reply)."""
        while self.initial_metadata is None:
            if self.end_error is not None:
                return Metadata()
            await self._recv_signal.wait()
        return self.initial_metadata


class ClientConnection(Connection):
    """A client-side HTTP/2 connection for gRPC calls."""

    def __init__(
        self,
        io: IOStrategy,
        *,
        authority: str,
        scheme: str = "http",
        settings: WireSettings | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        core = ConnectionCore(
            client_side=True, settings=settings,
            stream_factory=lambda c, sid: ClientStream(c, sid, io.message_queued),
            clock=loop_clock(),  # the core's rate budgets run on the loop's time
        )
        install(core.h2)  # linear-time HPACK encoding of large metadata
        self._peer_settings = False  # the server's first SETTINGS arrived
        self._settings_signal = Signal()
        core.on_remote_settings = self._on_remote_settings
        super().__init__(io, core)
        self.authority = authority
        self.scheme = scheme
        self.user_agent = user_agent

    async def open_stream(
        self,
        path: str,
        *,
        metadata: MetadataLike | None = None,
        subtype: str | None = None,
        grpc_timeout: float | None = None,
    ) -> ClientStream:
        """Start a call on ``path`` (``/package.Service/Method``).

        The HEADERS go out with the next write; the call does not wait for
        response headers. ``grpc_timeout`` (seconds) is sent as the
        ``grpc-timeout`` header for the server to enforce. Waits while the
        peer's MAX_CONCURRENT_STREAMS is reached. Raises the connection's
        sticky error, :class:`GoAwayError` after a GOAWAY, ValueError for
        reserved metadata keys, :class:`HeaderListTooLarge` (nothing sent)
        when the headers exceed the peer's SETTINGS_MAX_HEADER_LIST_SIZE (as
        far as it is known yet) or our own cap of 1 MiB. Headers above 16 KiB
        wait for the server's first SETTINGS (at most ``connect_timeout``),
        so its limit is known before they are sent.
        With ``settings.compression`` the stream's messages are compressed
        (``grpc-encoding``).
        """
        md = metadata if isinstance(metadata, Metadata) or metadata is None else Metadata(metadata)
        compression = self.core.settings.compression
        headers = build_request_headers(
            path,
            self.authority,
            scheme=self.scheme,
            subtype=subtype,
            timeout=grpc_timeout,
            metadata=md,
            user_agent=self.user_agent,
            encoding=compression,
        )
        if header_list_size(headers) > _SMALL_HEADERS and not self._peer_settings:
            await self._wait_peer_settings()
        self.check_header_list(headers)
        while True:
            try:
                stream = self.core.open_stream(headers)
            except h2.exceptions.TooManyStreamsError:
                await self._streams_signal.wait()
                continue
            assert isinstance(stream, ClientStream)
            stream.send_encoding = compression
            return stream


    def _on_remote_settings(self) -> None:
        self._peer_settings = True
        self._settings_signal.set()

    def _on_failed(self) -> None:
        super()._on_failed()
        self._settings_signal.set()

    async def _wait_peer_settings(self) -> None:
        with anyio.move_on_after(self.core.settings.connect_timeout):
            while not self._peer_settings:
                if self.core.error is not None:
                    raise reraisable(self.core.error)
                await self._settings_signal.wait()

    def check_header_list(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Raise :class:`HeaderListTooLarge` if the peer would refuse ``headers``."""
        size = header_list_size(headers)
        if size <= _SMALL_HEADERS:  # below every limit a gRPC peer may set in practice
            return
        peer = self.core.h2.remote_settings.max_header_list_size
        if size > MAX_SEND_HEADER_LIST_SIZE:
            raise HeaderListTooLarge(
                f"request headers are {size} bytes (mostly metadata), above the "
                f"{MAX_SEND_HEADER_LIST_SIZE}-byte cap for headers we send; send large data "
                "in messages", size, MAX_SEND_HEADER_LIST_SIZE)
        if peer is not None and size > peer:
            raise HeaderListTooLarge(
                f"request headers are {size} bytes (mostly metadata), above the server's "
                f"SETTINGS_MAX_HEADER_LIST_SIZE of {peer} bytes", size, peer)


_SMALL_HEADERS = 16 * 1024


def client_ssl_context(
    cafile: str | None = None, *, certfile: str | None = None, keyfile: str | None = None
) -> ssl.SSLContext:
    """A TLS client context for gRPC: system (or ``cafile``) trust, ALPN ``h2``;
    ``certfile``/``keyfile``: the client certificate for mutual TLS."""
    ctx = ssl.create_default_context(cafile=cafile)
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    ctx.set_alpn_protocols(["h2"])
    return ctx


async def open_io(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    connect_timeout: float = 20.0,
    settings: WireSettings | None = None,
) -> IOStrategy:
    """Connect and return the I/O strategy for a :class:`ClientConnection`.

    ``settings.io_backend`` (see :mod:`~.io_backends`) chooses the path;
    None: the running loop's native one (asyncio's protocol path, on trio
    the raw socket for plain TCP). The socket gets ``settings``' TCP
    keepalive and ``TCP_USER_TIMEOUT`` (defaults when None). Raises
    :class:`ConnectionBroken` like :func:`open_transport`, RuntimeError when
    the backend does not run on the running loop.
    """
    settings = settings or _DEFAULT_SETTINGS
    backend = select_io_backend(settings.io_backend)
    return await backend.connect(host, port, ssl_context=ssl_context,
                                 server_hostname=server_hostname,
                                 connect_timeout=connect_timeout, settings=settings)


@asynccontextmanager
async def connect(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    settings: WireSettings | None = None,
    authority: str | None = None,
) -> AsyncIterator[ClientConnection]:
    """Open a connection and serve it for the duration of the ``async with``."""
    settings = settings or WireSettings()
    io = await open_io(
        host,
        port,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        connect_timeout=settings.connect_timeout,
        settings=settings,
    )
    conn = ClientConnection(
        io,
        authority=authority or f"{host}:{port}",
        scheme="https" if ssl_context is not None else "http",
        settings=settings,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(conn.run)
        try:
            yield conn
        finally:
            await conn.aclose()
