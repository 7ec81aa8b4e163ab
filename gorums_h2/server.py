"""The Gorums server: serves ``/ordering.Gorums/NodeStream`` (Go's ``Server``).

Ordering, per client stream: requests run one at a time in arrival order,
each until its handler returns or calls :meth:`ServerCtx.release`; after a
release the next request may start while the released one continues, so
replies may then leave out of order. The first handler runs inline in the
stream's receive loop; a release hands that loop to a new task ("baton
passing"), so the common case costs no extra task.

Every reply carries its request's seq number, method and entries (as Go
echoes them). Per-request failures become status replies and the stream
stays open: a handler's :class:`StatusError` -> that code and message; any
other exception -> UNKNOWN with its text (logged); an unknown method ->
UNIMPLEMENTED; an undecodable request -> INTERNAL (when its seq number is
readable; else it is dropped and logged). One-way methods never reply.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import anyio
import anyio.abc
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

from gorums_h2.codec import (
    EnvelopeError,
    MethodInfo,
    UnknownMethodError,
    decode_full,
    encode,
    encode_entries,
    encode_metadata,
    encode_method_field,
    encode_status_field,
    lookup_method,
)
from gorums_h2.health import HealthService
from gorums_h2.message import Message
from gorums_h2.pb import ordering_pb2
from gorums_h2.wire.errors import EndOfStream, MessageTooLarge
from gorums_h2.wire.lifecycle import ServerLimits
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.server import ServerStream, WireServer
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.status import StatusCode, StatusError
from gorums_h2.wire.tls import check_alpn_h2

__all__ = [
    "Handler",
    "Interceptor",
    "NodeStreamInfo",
    "Server",
    "ServerCtx",
    "one_way_handler",
    "stream_handler",
    "unary_handler",
]

NODE_STREAM_PATH = "/ordering.Gorums/NodeStream"
CONTENT_SUBTYPE = "gorums"  # the NodeStream takes application/grpc+gorums only

Req = TypeVar("Req", bound=ProtoMessage)
Resp = TypeVar("Resp", bound=ProtoMessage)

Handler: TypeAlias = Callable[["ServerCtx", Message[Any]], Awaitable["Message[Any] | None"]]
"""``async def handler(ctx, request) -> reply or None`` (Go's ``Handler``)."""

Interceptor: TypeAlias = Callable[
    ["ServerCtx", Message[Any], Handler], Awaitable["Message[Any] | None"]]
"""``async def interceptor(ctx, request, next_handler) -> reply or None`` (Go's ``Interceptor``)."""


@dataclass(frozen=True, slots=True)
class NodeStreamInfo:
    """What a connect callback learns about a client's new NodeStream."""

    metadata: Metadata
    peer: Any


class _StreamState:
    """Per client stream: the wire stream, its task group, in-flight handlers."""

    __slots__ = ("finished", "inflight", "metadata", "receive_done", "receive_error", "server",
                 "shutting_down", "stream", "tg")

    def __init__(self, server: Server, stream: ServerStream) -> None:
        self.server = server
        self.stream = stream
        self.metadata = stream.head.metadata
        self.tg: anyio.abc.TaskGroup | None = None
        self.inflight = 0
        self.receive_done = False
        self.receive_error: StatusError | None = None
        self.shutting_down = False
        self.finished = anyio.Event()

    def check_finished(self) -> None:
        if (self.receive_done or self.shutting_down) and self.inflight == 0:
            self.finished.set()


class ServerCtx:
    """The context of one request on the server (Go's ``ServerCtx``).

    * :meth:`release` lets the next request of this client start now;
    * :meth:`send_message` sends a reply now (streaming quorum calls: many);
    * ``metadata`` is the stream's headers followed by the request's entries;
    * ``peer`` is the client's address; ``cancelled`` is true once the
      client's stream died (the handler is then also cancelled).
    """

    __slots__ = ("_baton", "_md", "_released", "_state", "request")

    def __init__(self, state: _StreamState, request: Message[Any], baton: bool) -> None:
        self._state = state
        self.request = request
        self._released = False
        self._baton = baton  # runs inline in the receive loop
        self._md: Metadata | None = None

    def release(self) -> None:
        """Allow the next request to start (idempotent)."""
        if self._released:
            return
        self._released = True
        state = self._state
        if self._baton and state.tg is not None and not state.receive_done:
            state.tg.start_soon(state.server._receive_loop, state)

    @property
    def released(self) -> bool:
        return self._released

    async def send_message(self, msg: ProtoMessage | Message[Any]) -> None:
        """Send ``msg`` as a reply to this request (same seq number and entries).

        Raises the stream's StatusError if the client is gone.
        """
        stream = self._state.stream
        if isinstance(msg, Message):
            envelope = _reply_envelope(msg)
        else:
            envelope = encode(self.request.metadata_bytes(), msg.SerializeToString())
        await stream.wait_send_capacity()
        stream.send_nowait(envelope)

    @property
    def metadata(self) -> Metadata:
        if self._md is None:
            md = self._state.metadata.copy()
            for key, value in self.request.entries:
                try:
                    md.add(key, value)
                except (ValueError, TypeError):
                    continue
            self._md = md
        return self._md

    @property
    def peer(self) -> Any:
        return self._state.stream.peer

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def seq_no(self) -> int:
        return self.request.seq_no

    @property
    def cancelled(self) -> bool:
        return self._state.stream.local_closed


def _reply_envelope(msg: Message[Any]) -> bytes:
    payload = msg.msg.SerializeToString() if msg.msg is not None else b""
    return encode(msg.metadata_bytes(), payload)


def _error_envelope(md: ordering_pb2.Metadata, exc: StatusError) -> bytes:
    """A status-only reply echoing ``md``'s seq number, method and entries."""
    status = encode_status_field(exc.code, exc.message, exc.details)
    entries = encode_entries((e.key, e.value) for e in md.entry)
    meta = encode_metadata(md.message_seq_no, encode_method_field(md.method), status, entries)
    return encode(meta, b"")


@dataclass(slots=True)
class _Registered:
    handler: Handler
    info: MethodInfo | None


class Server:
    """Serves registered gorums handlers (keyword options mirror Go's ServerOptions).

    * ``interceptors`` — run around every handler, first one outermost (WithInterceptors);
    * ``receive_buffer_size`` — requests a client may have queued before the
      server stops granting it flow-control credit (WithReceiveBufferSize; 0:
      only the HTTP/2 window bounds it);
    * ``connect_callback`` — called with a :class:`NodeStreamInfo` whenever a
      client opens its NodeStream (WithConnectCallback; may be async);
    * ``ssl_context`` — TLS for :meth:`serve_tcp` (must select ALPN ``h2``:
      ValueError otherwise; not changed);
    * ``max_receive_message_size`` / ``max_send_message_size`` and
      ``wire_settings`` — the gRPC server options (WithGRPCServerOptions);
    * ``limits`` — a :class:`~gorums_h2.wire.ServerLimits`: handshake
      timeout, keepalive PINGs to silent clients, max connection idle time
      and age, max connections (grpc-go's ``KeepaliveParams`` and
      ``ConnectionTimeout``; defaults close a vanished client's connection
      within 50 s);
    * ``health`` — serve gRPC health checking (``grpc.health.v1.Health``) on
      the same port (default True); ``server.health`` sets the statuses
      (:class:`~gorums_h2.health.HealthService`);
    * ``compression`` — ``"gzip"`` compresses the replies to clients that
      accept it (``grpc-accept-encoding``; sets ``wire_settings.compression``).
      Compressed requests are decoded either way.
    """

    def __init__(
        self,
        *,
        interceptors: Sequence[Interceptor] = (),
        receive_buffer_size: int = 0,
        connect_callback: Callable[[NodeStreamInfo], Awaitable[None] | None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_receive_message_size: int | None = None,
        max_send_message_size: int | None = None,
        wire_settings: WireSettings | None = None,
        logger: logging.Logger | None = None,
        limits: ServerLimits | None = None,
        health: bool = True,
        compression: str | None = None,
    ) -> None:
        settings = wire_settings or WireSettings()
        if compression is not None:
            settings = dataclasses.replace(settings, compression=compression)
        if max_receive_message_size is not None or max_send_message_size is not None:
            settings = dataclasses.replace(
                settings,
                max_receive_message_size=max_receive_message_size
                or settings.max_receive_message_size,
                max_send_message_size=max_send_message_size or settings.max_send_message_size,
            )
        if receive_buffer_size < 0:
            raise ValueError("receive_buffer_size must not be negative")
        if ssl_context is not None:
            check_alpn_h2(ssl_context, server_side=True)
        self.log = logger or logging.getLogger("gorums_h2.server")
        self.interceptors = tuple(interceptors)
        self.receive_buffer_size = receive_buffer_size
        self.connect_callback = connect_callback
        self.ssl_context = ssl_context
        self._handlers: dict[str, _Registered] = {}
        self.wire = WireServer(settings=settings, logger=self.log, limits=limits)
        # only gorums clients: their envelopes are not plain protobuf requests
        self.wire.register(NODE_STREAM_PATH, self._node_stream, subtype=CONTENT_SUBTYPE)
        # kept even when not served, so statuses can always be set
        self.health = HealthService()
        if health:
            self.health.register(self.wire)

    # ---- registration ----

    def register_handler(self, method: str, handler: Handler) -> None:
        """Serve ``method`` (full protobuf name, e.g. ``proto.Storage.ReadQC``)."""
        chained = handler
        for interceptor in reversed(self.interceptors):
            chained = _wrap(interceptor, chained)
        try:
            info: MethodInfo | None = lookup_method(method)
        except UnknownMethodError:
            info = None  # looked up again when the first request arrives
        self._handlers[method] = _Registered(chained, info)
        self.health._add_service(method.rpartition(".")[0])

    # ---- serving ----

    async def serve(self, listener: anyio.abc.Listener[Any], *,
                    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve connections from an anyio listener until stopped."""
        await self.wire.serve(listener, task_status=task_status)

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 0, *,
                        task_status: anyio.abc.TaskStatus[tuple[str, int]] = (
                            anyio.TASK_STATUS_IGNORED)) -> None:
        """Listen on ``host:port`` (0: a free port; TLS if ``ssl_context``) and serve.

        ``task_status.started`` receives the bound ``(host, port)``:
        ``host, port = await tg.start(server.serve_tcp, "127.0.0.1", 0)``.
        """
        await self.wire.serve_tcp(host, port, ssl_context=self.ssl_context,
                                  task_status=task_status)

    async def graceful_stop(self, grace: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish (at most ``grace``
        seconds), end every client stream with UNAVAILABLE "server is
        shutting down" after a GOAWAY, then stop. Clients see
        :class:`~gorums_h2.errors.NodeShutdownError`. Health checks say
        NOT_SERVING from the start (health watchers get it, then UNAVAILABLE)."""
        self.health._server_stopping()
        await self.wire.graceful_shutdown(grace)

    def stop(self) -> None:
        """Stop at once: close connections, cancel handlers."""
        self.health._server_stopping()
        self.wire.stop()

    # ---- the NodeStream ----

    async def _node_stream(self, stream: ServerStream) -> None:
        stream.inbound_limit = self.receive_buffer_size
        state = _StreamState(self, stream)
        if self.connect_callback is not None:
            result = self.connect_callback(NodeStreamInfo(state.metadata.copy(), stream.peer))
            if inspect.isawaitable(result):
                await result
        async with anyio.create_task_group() as tg:
            state.tg = tg
            tg.start_soon(self._receive_loop, state)
            if stream.shutdown_requested is not None:
                tg.start_soon(self._watch_shutdown, state, stream.shutdown_requested)
            await state.finished.wait()
            tg.cancel_scope.cancel()
        if state.receive_error is not None:
            # e.g. a request above max_receive_message_size: end the stream with
            # that status (as grpc-go), not OK; a no-op if the client reset it
            raise state.receive_error
        if state.shutting_down:
            stream.end(StatusCode.UNAVAILABLE, "server is shutting down")

    async def _watch_shutdown(self, state: _StreamState, event: anyio.Event) -> None:
        await event.wait()
        state.shutting_down = True
        state.check_finished()

    async def _receive_loop(self, state: _StreamState) -> None:
        """Receive and handle requests in order until a handler releases
        (a new loop then continues) or the stream ends."""
        stream = state.stream
        while True:
            try:
                body = await stream.receive()
            except (EndOfStream, StatusError) as exc:
                if isinstance(exc, StatusError):
                    state.receive_error = exc
                state.receive_done = True
                state.check_finished()
                return
            prepared = self._prepare(state, body)
            if prepared is None:
                continue
            handler, request, one_way = prepared
            ctx = ServerCtx(state, request, baton=True)
            state.inflight += 1
            try:
                await self._run(ctx, handler, request, one_way)
            finally:
                state.inflight -= 1
                state.check_finished()
            if ctx._released:
                return  # the baton went to the loop that release() started
            ctx._released = True  # done: a late release() must not start a second loop

    def _prepare(self, state: _StreamState, body: bytes
                 ) -> tuple[Handler, Message[Any], bool] | None:
        """Decode a request; answer protocol-level errors directly."""
        stream = state.stream
        try:
            md, md_bytes, payload = decode_full(body)
        except EnvelopeError as exc:
            if exc.seq_no:
                md = ordering_pb2.Metadata(message_seq_no=exc.seq_no, method=exc.method)
                self._reply_error(stream, md, StatusError(
                    StatusCode.INTERNAL, f"cannot decode request: {exc}"))
            else:
                self.log.warning("dropping undecodable request from %s: %s", stream.peer, exc)
            return None
        method = md.method
        if state.shutting_down:
            self._reply_error(stream, md, StatusError(StatusCode.UNAVAILABLE,
                                                      "server is shutting down"))
            return None
        registered = self._handlers.get(method)
        info = registered.info if registered is not None else None
        if registered is not None and info is None:
            try:
                info = registered.info = lookup_method(method)
            except UnknownMethodError:
                info = None
        if registered is None or info is None:
            self._reply_error(stream, md, StatusError(
                StatusCode.UNIMPLEMENTED, f"unknown method {method}"))
            return None
        try:
            request = info.request_type.FromString(payload)
        except DecodeError as exc:
            self._reply_error(stream, md, StatusError(
                StatusCode.INTERNAL, f"cannot decode {info.request_type.DESCRIPTOR.full_name} "
                f"request for {method}: {exc}"))
            return None
        return registered.handler, Message(md, request, md_bytes), info.one_way

    def _reply_error(self, stream: ServerStream, md: ordering_pb2.Metadata,
                     exc: StatusError) -> None:
        try:
            stream.send_nowait(_error_envelope(md, exc))
        except StatusError:
            pass  # the client is gone

    async def _run(self, ctx: ServerCtx, handler: Handler, request: Message[Any],
                   one_way: bool) -> None:
        stream = ctx._state.stream
        try:
            reply = await handler(ctx, request)
        except StatusError as exc:
            if not one_way:
                self._reply_error(stream, request._md, exc)
            return
        except Exception as exc:
            self.log.exception("handler for %s failed", request.method)
            if not one_way:
                self._reply_error(stream, request._md, StatusError(
                    StatusCode.UNKNOWN, str(exc)))
            return
        if reply is not None and not one_way:
            try:
                envelope = _reply_envelope(reply)
            except Exception as exc:  # not a Message, or it does not serialize
                self.log.exception("handler for %s returned a bad reply", request.method)
                self._reply_error(stream, request._md, StatusError(
                    StatusCode.INTERNAL, f"cannot encode the reply: {exc!r}"))
                return
            try:
                stream.send_nowait(envelope)
            except MessageTooLarge as exc:
                self._reply_error(stream, request._md, exc)
            except StatusError:
                pass  # the client is gone


def _wrap(interceptor: Interceptor, next_handler: Handler) -> Handler:
    async def handler(ctx: ServerCtx, request: Message[Any]) -> Message[Any] | None:
        return await interceptor(ctx, request, next_handler)

    return handler


# ---- adapters used by generated code ----


def unary_handler(fn: Callable[[ServerCtx, Req], Awaitable[Resp]]) -> Handler:
    """Adapt ``async def method(ctx, req) -> reply`` (ordered RPC, quorum call)."""

    async def handler(ctx: ServerCtx, request: Message[Any]) -> Message[Any] | None:
        reply = await fn(ctx, request.msg)  # type: ignore[arg-type]
        return Message(request._md, reply, request._md_bytes)

    return handler


def one_way_handler(fn: Callable[[ServerCtx, Req], Awaitable[None]]) -> Handler:
    """Adapt ``async def method(ctx, req) -> None`` (unicast, multicast)."""

    async def handler(ctx: ServerCtx, request: Message[Any]) -> Message[Any] | None:
        await fn(ctx, request.msg)  # type: ignore[arg-type]
        return None

    return handler


def stream_handler(
    fn: Callable[[ServerCtx, Req, Callable[[Resp], Awaitable[None]]], Awaitable[None]],
) -> Handler:
    """Adapt ``async def method(ctx, req, send) -> None`` (streaming quorum call):
    every ``await send(reply)`` is one reply with the request's seq number."""

    async def handler(ctx: ServerCtx, request: Message[Any]) -> Message[Any] | None:
        await fn(ctx, request.msg, ctx.send_message)  # type: ignore[arg-type]
        return None

    return handler
