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
a content-type that is not gRPC gets HTTP 415, and a gRPC content-type whose
subtype the path was not registered for (``application/grpc+json`` on a
path registered with ``subtype="gorums"``) gets a trailers-only INTERNAL
naming the content-types the path takes (grpc-go, lacking per-method
subtypes, would decode the request with its proto codec and fail there).
"""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute
from h2.errors import ErrorCodes

from gorums_h2.wire._hpack import install
from gorums_h2.wire._io import LINGER, IOStrategy, set_tcp_timeouts
from gorums_h2.wire.clock import loop_clock
from gorums_h2.wire.connection import Connection
from gorums_h2.wire.errors import ConnectionClosed, EndOfStream
from gorums_h2.wire.framing import ENCODINGS
from gorums_h2.wire.headers import (
    HeaderError,
    Headers,
    build_response_headers,
    build_trailers,
    content_type,
    validate_request_headers,
)
from gorums_h2.wire.io_backends import IOBackend, select_io_backend
from gorums_h2.wire.lifecycle import Action, ServerLimits, log_rarely, supervise
from gorums_h2.wire.protocol import ConnectionCore, StreamCore
from gorums_h2.wire.server_stream import ServerStream
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.signal import Signal
from gorums_h2.wire.status import StatusCode, StatusError, encode_grpc_message, escape_peer_text
from gorums_h2.wire.tls import check_alpn_h2, server_ssl_context

__all__ = ["ServerConnection", "ServerStream", "StreamHandler", "WireServer", "server_ssl_context"]

StreamHandler = Callable[["ServerStream"], Awaitable[None]]

# loop turns a new handler waits for the rest of the read that opened its
# stream (a 256 KiB read has at most 146 steps of 200 frames)
_READ_STEPS_WAITED = 160

class ServerConnection(Connection):
    """A server-side connection: dispatches each new stream to its handler.

    ``handshaken`` turns true when the client's preface and first SETTINGS
    arrived; ``closed_by_limit`` says which :class:`ServerLimits` limit
    closed the connection, if one did (``refused``: ``max_connections``).
    """

    def __init__(self, io: IOStrategy, server: WireServer) -> None:
        core = ConnectionCore(
            client_side=False,
            settings=server.settings,
            stream_factory=lambda c, sid: ServerStream(c, sid, io.message_queued),
            clock=loop_clock(),  # the core's rate budgets run on the loop's time
        )
        self.server = server
        install(core.h2)  # linear-time HPACK encoding of large metadata
        core.on_request = self._on_request
        super().__init__(io, core)
        self._tg: anyio.abc.TaskGroup | None = None
        self.handshaken = False
        self.refused = False
        self.closed_by_limit: Action | None = None
        self.lifecycle_signal = Signal()  # handshake done or a stream closed
        # only the idle and age limits care when streams close (saves a
        # wake-up of the lifecycle task per call on unary-heavy servers)
        limits = server.limits
        self._wake_on_stream_close = (limits.max_connection_idle is not None
                                      or limits.max_connection_age is not None)
        core.on_streams_available = self._on_stream_closed
        core.on_remote_settings = self._on_remote_settings

    def _start_extra_tasks(self, tg: anyio.abc.TaskGroup) -> None:
        self._tg = tg
        if self.refused:
            tg.start_soon(self._refuse_connection)
        else:
            tg.start_soon(supervise, self, self.server.limits, self.server.rng,
                          name="connection lifecycle")

    async def _refuse_connection(self) -> None:
        # over max_connections: tell the client why (SETTINGS, GOAWAY), then
        # close as after a protocol error: half-closed, input discarded, so
        # that bytes the client sends meanwhile (its SETTINGS ACK) cannot
        # turn the close into a reset that loses the GOAWAY; the I/O ends the
        # connection within LINGER seconds, or we close it after
        core = self.core
        core.send_goaway(ErrorCodes.ENHANCE_YOUR_CALM, b"too many connections")
        core.rejected_peer = True
        core.fail(ConnectionClosed("too many connections"))
        await anyio.sleep(LINGER + 1.0)
        await self.io.close()

    def _on_remote_settings(self) -> None:
        if not self.handshaken:
            self.handshaken = True
            self.lifecycle_signal.set()

    def _on_stream_closed(self) -> None:
        self._streams_signal.set()
        if self._wake_on_stream_close:
            self.lifecycle_signal.set()
        self.server.streams_changed()

    def _on_request(self, stream: StreamCore, headers: Headers) -> None:
        assert isinstance(stream, ServerStream)
        try:
            head = validate_request_headers(headers)
        except HeaderError as exc:
            self._refuse(stream, exc.grpc_status, exc.message, exc.http_status)
            return
        stream.head = head
        stream.peer = self.peer
        if head.encoding is not None and head.encoding != "identity":
            if head.encoding not in ENCODINGS:
                self._refuse(stream, StatusCode.UNIMPLEMENTED,
                             f'grpc: Decompressor is not installed for grpc-encoding '
                             f'"{head.encoding}"')
                return
            stream.set_receive_encoding(head.encoding)
        compression = self.server.settings.compression
        if compression is not None and compression in head.accept_encoding:
            stream.send_encoding = compression  # the client can read it: compress replies
        stream.response_headers = build_response_headers(head.subtype or None,
                                                         encoding=stream.send_encoding)
        handler, accepted = self.server.route(head.path)
        if handler is None:
            self._refuse(stream, StatusCode.UNIMPLEMENTED, _unknown_method(head.path))
            return
        if accepted is not None and head.subtype not in accepted:
            self._refuse(stream, StatusCode.INTERNAL, _wrong_subtype(
                head.path, accepted, head.subtype))
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
                core = self.core
                for _ in range(_READ_STEPS_WAITED):
                    # the read that opened the stream is processed in steps
                    # (ConnectionCore.receive_step): let it finish, so that a
                    # reset later in the same read stops the handler before
                    # it starts (bounded: the read may be paused)
                    if not core.stepping or stream.local_closed:
                        break
                    await anyio.lowlevel.checkpoint()
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


def _wrong_subtype(path: str, accepted: frozenset[str], got: str) -> str:
    shown = escape_peer_text(content_type(got).decode("ascii", "replace"), 100)
    takes = " or ".join(content_type(s).decode() for s in sorted(accepted))
    return f"{path} takes content-type {takes}, not {shown}"


class WireServer:
    """Serves gRPC stream handlers on anyio listeners.

    ``serve(listener)`` runs until :meth:`stop` or a graceful shutdown
    completes; it may be called for several listeners at once. ``limits``
    bounds each connection's handshake, silence, idle time and age, and
    the number of connections (:class:`ServerLimits`). ``rng`` is the
    source of the age jitter (default: seeded from the OS), for reproducible runs.
    """

    def __init__(
        self,
        handlers: Mapping[str, StreamHandler] | None = None,
        *,
        settings: WireSettings | None = None,
        logger: logging.Logger | None = None,
        on_connection: Callable[[ServerConnection], None] | None = None,
        limits: ServerLimits | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or WireSettings()
        self.rng = rng or random.Random()  # jitter; seed it for reproducible runs
        self.limits = limits or ServerLimits()
        self.log = logger or logging.getLogger("gorums_h2.wire.server")
        self._handlers: dict[str, StreamHandler] = dict(handlers or {})
        self._subtypes: dict[str, frozenset[str]] = {}
        self._refusals_logged: dict[str, float] = {}
        self._on_connection = on_connection
        # a dict, not a set: shutdown walks connections in accept order
        self.connections: dict[ServerConnection, None] = {}
        self.shutting_down = anyio.Event()
        self._streams_changed = anyio.Event()
        self._scopes: list[anyio.CancelScope] = []
        self._accept_scopes: list[anyio.CancelScope] = []
        # the serving task groups (the gorums server spawns call tasks there)
        self.task_groups: list[anyio.abc.TaskGroup] = []
        self._stopped = False

    def route(self, path: str) -> tuple[StreamHandler | None, frozenset[str] | None]:
        """The handler registered for ``path`` (None: none) and the subtypes it
        accepts (None: any); what a connection asks for each new stream."""
        return self._handlers.get(path), self._subtypes.get(path)

    def streams_changed(self) -> None:
        """A stream or a connection ended: wakes :meth:`graceful_shutdown`."""
        self._streams_changed.set()

    def register(self, path: str, handler: StreamHandler, *,
                 subtype: str | Iterable[str] | None = None) -> None:
        """Route streams on ``path`` (``/package.Service/Method``) to ``handler``.

        ``subtype``: the content-type(s) the path accepts, as gRPC subtypes
        (``"gorums"``: ``application/grpc+gorums``; ``""``: plain
        ``application/grpc``; or several, e.g. ``{"", "proto"}``); other
        gRPC content-types get INTERNAL before the handler runs. None: any
        ``application/grpc[+...]``.
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        self._handlers[path] = handler
        if subtype is None:
            self._subtypes.pop(path, None)
        else:
            subtypes = [subtype] if isinstance(subtype, str) else list(subtype)
            self._subtypes[path] = frozenset(s.lower() for s in subtypes)

    async def serve(
        self,
        listener: anyio.abc.Listener[Any],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept and serve connections from ``listener`` (closed on return).

        ``listener`` hands out anyio byte streams (each gets its I/O from
        ``settings.io_backend``, see :mod:`~.io_backends`) or ready
        :class:`~._io.IOStrategy` objects (a backend's own listener).
        """
        try:
            if self._stopped:
                raise RuntimeError("server was stopped")
            backend = select_io_backend(self.settings.io_backend)
            async with anyio.create_task_group() as tg:
                self._scopes.append(tg.cancel_scope)
                self.task_groups.append(tg)
                with anyio.CancelScope() as accept_scope:
                    self._accept_scopes.append(accept_scope)
                    if self.shutting_down.is_set():
                        accept_scope.cancel()
                    task_status.started()
                    await listener.serve(partial(self._serve_transport, backend), task_group=tg)
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

        ``task_status.started`` receives the bound ``(host, port)``.
        ``settings.io_backend`` chooses the I/O path (None: the running
        loop's native one; :mod:`~.io_backends`). ``ssl_context`` must
        select ALPN ``h2`` (ValueError otherwise; it is not changed); TLS
        clients that do not negotiate ``h2`` are closed right after the
        handshake. Raises ``OSError`` naming the address when it cannot bind.
        """
        if ssl_context is not None:
            check_alpn_h2(ssl_context, server_side=True)
        if self._stopped:
            raise RuntimeError("server was stopped")
        backend = select_io_backend(self.settings.io_backend)
        # bind before the task group exists, so a bind error is a plain OSError
        listener = await backend.listen_tcp(
            host, port, ssl_context=ssl_context,
            handshake_timeout=self.limits.handshake_timeout or 3600.0, log=self.log)
        bound = listener.extra(SocketAttribute.local_address)
        await self.serve(listener, task_status=_Started(task_status, (bound[0], bound[1])))

    def _alpn_ok(self, protocol: str | None, peer: Any) -> bool:
        if protocol == "h2":
            return True
        # grpc-go refuses such clients too (since 1.67); they do not speak
        # HTTP/2 or are misconfigured, so say so in our log, briefly
        self._log_refusal("alpn", "closing TLS connection from %s: ALPN %s is not 'h2'",
                          escape_peer_text(str(peer)), "not negotiated" if protocol is None
                          else escape_peer_text(repr(protocol)))
        return False

    def _log_refusal(self, kind: str, msg: str, *args: Any) -> None:
        # a client that keeps getting refused must not flood the log
        log_rarely(self.log, self._refusals_logged, kind, msg, *args)

    async def _serve_transport(self, backend: IOBackend,
                               transport: anyio.abc.ByteStream | IOStrategy) -> None:
        io = transport if isinstance(transport, IOStrategy) else backend.wrap(transport)
        if io.extra(TLSAttribute.ssl_object, None) is not None and not self._alpn_ok(
                io.extra(TLSAttribute.alpn_protocol, None), io.peer):
            await io.abort()
            return
        await self._serve_connection(ServerConnection(io, self))

    async def _serve_connection(self, conn: ServerConnection) -> None:
        limits = self.limits
        if limits.max_connections is not None and len(self.connections) >= limits.max_connections:
            conn.refused = True
            self._log_refusal("max_connections",
                              "refusing connection from %s: %d connections open (max_connections)",
                              escape_peer_text(str(conn.peer)), len(self.connections))
        elif limits.tcp_keepalive is not None:
            set_tcp_timeouts(conn.extra(SocketAttribute.raw_socket), limits.tcp_keepalive,
                             limits.keepalive_timeout if limits.keepalive_time is not None
                             else None)
        if self._on_connection is not None:
            self._on_connection(conn)
        self.connections[conn] = None
        try:
            if self.shutting_down.is_set():
                conn.core.send_goaway()
            await conn.run()
        finally:
            self.connections.pop(conn, None)
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
