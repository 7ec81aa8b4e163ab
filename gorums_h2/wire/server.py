"""gRPC server: serve stream handlers on any anyio listener (TCP, TLS).

Each request stream is dispatched by ``:path`` to a registered handler
``async def handler(stream: ServerStream) -> None``. The handler's outcome
becomes the call's status:

* returns normally -> OK (unless it already called :meth:`ServerStream.end`);
* raises :class:`StatusError` -> that code, message and details;
* raises anything else -> UNKNOWN with the exception text, logged;
* the client resets the stream or the connection dies -> the handler is
  cancelled (its ``cancel_scope``), nothing is sent; a stream reset before
  its handler started (e.g. in the same read as its HEADERS) never runs it;
* the request's ``grpc-timeout`` passes -> cancelled, DEADLINE_EXCEEDED.

Refusals need no handler: an unknown path gets a trailers-only UNIMPLEMENTED,
a content-type that is not gRPC gets HTTP 415.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSListener

from gorums_h2.wire._io import (
    AsyncioProtocolIO,
    IOStrategy,
    StreamIO,
    mark_asyncio_context,
    native_asyncio_enabled,
)
from gorums_h2.wire._trio_io import TrioSocketIO, native_trio_socket
from gorums_h2.wire.connection import Connection, Stream
from gorums_h2.wire.errors import EndOfStream
from gorums_h2.wire.headers import (
    HeaderError,
    Headers,
    RequestHead,
    build_response_headers,
    build_trailers,
    content_type,
    validate_request_headers,
)
from gorums_h2.wire.metadata import Metadata, MetadataLike
from gorums_h2.wire.protocol import ConnectionCore, StreamCore
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.status import StatusCode, StatusError, encode_grpc_message

__all__ = ["ServerConnection", "ServerStream", "StreamHandler", "WireServer", "server_ssl_context"]

StreamHandler = Callable[["ServerStream"], Awaitable[None]]

_EMPTY_HEAD = RequestHead("", "", "", None, None, Metadata())


class ServerStream(Stream):
    """The server end of one gRPC call.

    ``head`` is the validated request (path, metadata, timeout), ``peer`` the
    client's address, ``shutdown_requested`` an event set when the server
    starts a graceful shutdown (long-lived streams should finish and end).
    """

    __slots__ = ("cancel_scope", "head", "peer", "shutdown_requested")

    def __init__(self, conn: ConnectionCore, stream_id: int) -> None:
        super().__init__(conn, stream_id, client_side=False)
        self.head = _EMPTY_HEAD
        self.peer: Any = None
        self.cancel_scope: anyio.CancelScope | None = None
        self.shutdown_requested: anyio.Event | None = None

    def _set_end(self, exc: BaseException) -> None:
        super()._set_end(exc)
        # reset by the client or connection lost: the handler's work is moot
        if self.local_closed and self.cancel_scope is not None:
            self.cancel_scope.cancel()

    @property
    def ended(self) -> bool:
        """True once the response is complete (or can no longer be sent)."""
        return self.local_closed or self._end is not None

    def send_initial_metadata(self, metadata: MetadataLike) -> None:
        """Send response headers with ``metadata`` now (before any message)."""
        if self.response_headers is None:
            raise RuntimeError("response headers were already sent")
        md = metadata if isinstance(metadata, Metadata) else Metadata(metadata)
        headers = build_response_headers(self.head.subtype or None, md)
        self.response_headers = None
        self.conn.h2.send_headers(self.stream_id, headers)
        self.conn.on_output()

    def end(
        self,
        code: StatusCode | int = StatusCode.OK,
        message: str = "",
        details: Any = (),
        metadata: MetadataLike | None = None,
    ) -> None:
        """Finish the response with a status (trailers). Later calls do nothing."""
        if self.ended:
            return
        md = None if metadata is None else (
            metadata if isinstance(metadata, Metadata) else Metadata(metadata))
        self.queue_end(build_trailers(code, message, details, md))


class ServerConnection(Connection):
    """A server-side connection: dispatches each new stream to its handler."""

    def __init__(self, io: IOStrategy, server: WireServer) -> None:
        core = ConnectionCore(
            client_side=False,
            settings=server.settings,
            stream_factory=lambda c, sid: ServerStream(c, sid),
        )
        self.server = server
        core.on_request = self._on_request
        super().__init__(io, core)
        self._tg: anyio.abc.TaskGroup | None = None
        core.on_streams_available = self._on_stream_closed

    def _start_extra_tasks(self, tg: anyio.abc.TaskGroup) -> None:
        self._tg = tg

    def _on_stream_closed(self) -> None:
        self._streams_signal.set()
        self.server._streams_changed.set()

    def _on_request(self, stream: StreamCore, headers: Headers) -> None:
        assert isinstance(stream, ServerStream)
        try:
            head = validate_request_headers(headers)
        except HeaderError as exc:
            self._refuse(stream, exc.grpc_status, exc.message, exc.http_status)
            return
        stream.head = head
        stream.peer = self.peer
        stream.response_headers = build_response_headers(head.subtype or None)
        handler = self.server._handlers.get(head.path)
        if handler is None:
            self._refuse(stream, StatusCode.UNIMPLEMENTED, _unknown_method(head.path))
            return
        stream.shutdown_requested = self.server.shutting_down
        assert self._tg is not None
        self._tg.start_soon(self._run_handler, handler, stream, name=f"grpc {head.path}")

    def _refuse(self, stream: ServerStream, code: StatusCode, message: str,
                http_status: int = 200) -> None:
        head = [(b":status", str(http_status).encode()), (b"content-type", content_type(None))]
        trailers = build_trailers(code, message)
        stream.response_headers = None
        stream.queue_end(head + trailers)
        self.server.log.debug("refused stream %d: %s %s", stream.stream_id, code.name,
                              encode_grpc_message(message))

    async def _run_handler(self, handler: StreamHandler, stream: ServerStream) -> None:
        head = stream.head
        try:
            with anyio.CancelScope() as scope:
                stream.cancel_scope = scope
                if head.timeout is not None:
                    scope.deadline = anyio.current_time() + head.timeout
                if stream.local_closed:
                    return  # reset (or the connection died) before it started
                await handler(stream)
            if scope.cancelled_caught and not stream.local_closed:
                if head.timeout is not None and anyio.current_time() >= scope.deadline:
                    stream.end(StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
                else:
                    stream.end(StatusCode.CANCELLED, "handler cancelled")
        except StatusError as exc:
            stream.end(exc.code, exc.message, exc.details)
        except EndOfStream:
            stream.end(StatusCode.OK)
        except Exception as exc:
            self.server.log.exception("handler for %s failed", head.path)
            stream.end(StatusCode.UNKNOWN, f"{type(exc).__name__}: {exc}")
        else:
            stream.end(StatusCode.OK)
        finally:
            stream.cancel_scope = None


def _unknown_method(path: str) -> str:
    service, _, method = path.lstrip("/").rpartition("/")
    if not service:
        return f"malformed method name: {path!r}"
    return f"unknown method {method} for service {service}"


def server_ssl_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A TLS server context with ALPN ``h2`` (TLS 1.2+)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2"])
    return ctx


class WireServer:
    """Serves gRPC stream handlers on anyio listeners.

    ``serve(listener)`` runs until :meth:`stop` or a graceful shutdown
    completes; it may be called for several listeners at once.
    """

    def __init__(
        self,
        handlers: Mapping[str, StreamHandler] | None = None,
        *,
        settings: WireSettings | None = None,
        logger: logging.Logger | None = None,
        on_connection: Callable[[ServerConnection], None] | None = None,
    ) -> None:
        self.settings = settings or WireSettings()
        self.log = logger or logging.getLogger("gorums_h2.wire.server")
        self._handlers: dict[str, StreamHandler] = dict(handlers or {})
        self._on_connection = on_connection
        self.connections: set[ServerConnection] = set()
        self.shutting_down = anyio.Event()
        self._streams_changed = anyio.Event()
        self._scopes: list[anyio.CancelScope] = []
        self._accept_scopes: list[anyio.CancelScope] = []
        self._stopped = False

    def register(self, path: str, handler: StreamHandler) -> None:
        """Route streams on ``path`` (``/package.Service/Method``) to ``handler``."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        self._handlers[path] = handler

    async def serve(
        self,
        listener: anyio.abc.Listener[Any],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept and serve connections from ``listener`` (closed on return)."""
        if self._stopped:
            raise RuntimeError("server was stopped")
        try:
            async with anyio.create_task_group() as tg:
                self._scopes.append(tg.cancel_scope)
                with anyio.CancelScope() as accept_scope:
                    self._accept_scopes.append(accept_scope)
                    if self.shutting_down.is_set():
                        accept_scope.cancel()
                    task_status.started()
                    await listener.serve(self._serve_transport, task_group=tg)
                # no longer accepting (graceful shutdown): refuse new clients
                # now, while the open connections finish
                with anyio.CancelScope(shield=True):
                    await listener.aclose()
        finally:
            with anyio.CancelScope(shield=True):
                await listener.aclose()

    async def serve_tcp(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        task_status: anyio.abc.TaskStatus[tuple[str, int]] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port`` (port 0: any free port) and serve.

        ``task_status.started`` receives the bound ``(host, port)``. On
        asyncio this uses the native protocol path (see :mod:`._io`).
        """
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["h2"])
        if native_asyncio_enabled():
            await self._serve_tcp_asyncio(host, port, ssl_context, task_status)
            return
        listener: anyio.abc.Listener[Any] = await anyio.create_tcp_listener(
            local_host=host, local_port=port
        )
        bound = listener.extra(SocketAttribute.local_address)
        if ssl_context is not None:
            listener = TLSListener(listener, ssl_context, standard_compatible=False)
        await self.serve(listener, task_status=_Started(task_status, (bound[0], bound[1])))

    async def _serve_tcp_asyncio(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        task_status: anyio.abc.TaskStatus[tuple[str, int]],
    ) -> None:
        if self._stopped:
            raise RuntimeError("server was stopped")
        loop = asyncio.get_running_loop()
        early: list[ServerConnection] = []  # accepted before the task group is up
        tg_ref: list[anyio.abc.TaskGroup] = []

        def on_made(io: AsyncioProtocolIO) -> None:
            conn = ServerConnection(io, self)
            if tg_ref:
                tg_ref[0].start_soon(self._serve_connection, conn)
            else:
                early.append(conn)

        def factory() -> asyncio.Protocol:
            io = AsyncioProtocolIO()
            io._on_made = on_made
            return io.protocol

        # bind before the task group exists, so a bind error is a plain OSError
        mark_asyncio_context()
        server = await loop.create_server(factory, host, port, ssl=ssl_context)
        try:
            async with anyio.create_task_group() as tg:
                self._scopes.append(tg.cancel_scope)
                tg_ref.append(tg)
                for conn in early:
                    tg.start_soon(self._serve_connection, conn)
                bound = server.sockets[0].getsockname()
                with anyio.CancelScope() as accept_scope:
                    self._accept_scopes.append(accept_scope)
                    if self.shutting_down.is_set():
                        accept_scope.cancel()
                    task_status.started((bound[0], bound[1]))
                    await anyio.sleep_forever()
                server.close()  # graceful shutdown: refuse new clients now
        finally:
            server.close()

    async def _serve_transport(self, transport: anyio.abc.ByteStream) -> None:
        sock = native_trio_socket(transport)
        io: IOStrategy = (StreamIO(transport) if sock is None
                          else TrioSocketIO(transport, sock))  # type: ignore[arg-type]
        await self._serve_connection(ServerConnection(io, self))

    async def _serve_connection(self, conn: ServerConnection) -> None:
        if self._on_connection is not None:
            self._on_connection(conn)
        self.connections.add(conn)
        try:
            if self.shutting_down.is_set():
                conn.core.send_goaway()
            await conn.run()
        finally:
            self.connections.discard(conn)
            self._streams_changed.set()

    async def graceful_shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, send GOAWAY on every connection, let open streams
        finish (``shutdown_requested`` is set for them), and after ``grace``
        seconds (None: no limit) stop everything that is left."""
        self.shutting_down.set()
        for scope in self._accept_scopes:
            scope.cancel()
        for conn in list(self.connections):
            conn.core.send_goaway()
        with anyio.move_on_after(grace):
            while any(c.core.streams for c in self.connections):
                self._streams_changed = anyio.Event()
                await self._streams_changed.wait()
        with anyio.CancelScope(shield=True):
            for conn in list(self.connections):
                await conn.aclose(goaway=False)
        self.stop()

    def stop(self) -> None:
        """Stop at once: close listeners and connections, cancel handlers."""
        self._stopped = True
        self.shutting_down.set()
        for scope in self._scopes:
            scope.cancel()


class _Started:
    """Adapts serve()'s started() to report a value."""

    def __init__(self, inner: anyio.abc.TaskStatus[Any], value: Any) -> None:
        self._inner = inner
        self._value = value

    def started(self, value: Any = None) -> None:
        self._inner.started(self._value)
