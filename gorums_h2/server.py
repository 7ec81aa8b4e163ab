"""The Gorums server (Go's ``Server``): serves both NodeStream wires on one port,
``/ordering.Gorums/NodeStream`` (Go Gorums v0.11, ``application/grpc+gorums``)
and ``/stream.Gorums/NodeStream`` (Go Gorums master, ``application/grpc``),
each with its own rules (:class:`~gorums_h2.codec.WireProtocol`); the same
handlers serve both.

Ordering, per client stream: requests run one at a time in arrival order,
each until its handler returns or calls :meth:`ServerCtx.release`; after a
release the next request may start while the released one continues, so
replies may then leave out of order. The first handler runs inline in the
stream's receive loop; a release hands that loop to a new task ("baton
passing"), so the common case costs no extra task.

Every reply carries its request's seq number and method (and, on the
``ordering`` wire, its entries, as Go v0.11 echoes them). Per-request failures
become status replies and the stream stays open: a handler's
:class:`StatusError` -> that code and message; any other exception -> UNKNOWN
with its text (logged); an unknown method -> UNIMPLEMENTED; an undecodable
request payload -> the wire's error (``ordering``: INTERNAL, ``stream``:
UNKNOWN as master). A message that is not an envelope at all gets INTERNAL
in-band when its seq number is readable (``ordering``; else it is dropped and
logged) or ends the NodeStream with INTERNAL (``stream``, as master). One-way
methods never reply.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from google.protobuf.message import DecodeError

from gorums_h2.codec import (
    SERVER_CALL_BIT,
    STREAM,
    WIRES,
    Envelope,
    EnvelopeError,
    MethodInfo,
    UnknownMethodError,
    WireLike,
    WireProtocol,
    lookup_method,
)
from gorums_h2.codec.wires import get_wires
from gorums_h2.handlers import (
    Handler,
    Interceptor,
    NodeStreamInfo,
    ServerCtx,
    StreamState,
    chain,
    one_way_handler,
    reply_bytes,
    stream_handler,
    unary_handler,
)
from gorums_h2.health import HealthService
from gorums_h2.inbound import InboundChannel, InboundNodes
from gorums_h2.message import Message
from gorums_h2.node import Node
from gorums_h2.wire.connection import Stream
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
    * ``max_receive_message_size`` / ``max_send_message_size`` (bytes) and
      ``wire_settings`` — the gRPC server options (WithGRPCServerOptions);
      None keeps ``wire_settings``' value (4 MiB received, no send limit);
      a size must be positive (ValueError for 0 or less);
    * ``wires`` — the NodeStream wires served (default both: ``("ordering",
      "stream")``); a client on a wire not served is refused with
      UNIMPLEMENTED "unknown service …" naming the wires this server speaks.
      Each wire's path accepts only its content types (``ordering``:
      ``application/grpc+gorums``; ``stream``: ``application/grpc`` and, as
      master, ``+proto``/``+gorums``); others are refused with INTERNAL;
    * ``limits`` — a :class:`~gorums_h2.wire.ServerLimits`: handshake
      timeout, keepalive PINGs to silent clients, max connection idle time
      and age, max connections (grpc-go's ``KeepaliveParams`` and
      ``ConnectionTimeout``; defaults close a vanished client's connection
      within 50 s);
    * ``my_id`` / ``peers`` — this replica's node ID and the IDs of the
      other nodes (Go master's ``WithConfig(myID, nodes)``): a ``stream``
      NodeStream whose ``gorums-node-id`` is one of ``peers`` joins
      :meth:`ServerCtx.config`; a client using this server as its
      back-channel (``Manager(server=...)``) sends ``my_id``
      (:mod:`gorums_h2.inbound`);
    * ``health`` — serve gRPC health checking (``grpc.health.v1.Health``) on
      the same port (default True); ``server.health`` sets the statuses
      (:class:`~gorums_h2.health.HealthService`);
    * ``compression`` — ``"gzip"`` compresses the replies to clients that
      accept it (``grpc-accept-encoding``; sets ``wire_settings.compression``).
      Compressed requests are decoded either way;
    * ``rng`` — the source of the connection-age jitter (``limits``; default:
      seeded from the OS); pass a seeded ``random.Random`` for reproducible
      runs (as ``Manager(rng=)``).

    Server-initiated calls: on a callable stream, bit 63 of a message ID
    marks a reply to a call this server made; it is routed while the
    stream's handlers run (a reader task feeds requests to the ordered
    handler loop through a buffer of ``receive_buffer_size`` requests, 256
    when 0), so a handler may wait for replies from its own client; replies
    to IDs no call waits for are dropped, as master does.
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
        wires: WireLike | Iterable[WireLike] = ("ordering", "stream"),
        my_id: int = 0,
        peers: Iterable[int] = (),
        rng: random.Random | None = None,
    ) -> None:
        settings = wire_settings or WireSettings()
        if compression is not None:
            settings = dataclasses.replace(settings, compression=compression)
        # None keeps wire_settings' value (whose max_send_message_size None is
        # "no limit"); a number must be positive (WireSettings raises ValueError)
        if max_receive_message_size is not None:
            settings = dataclasses.replace(
                settings, max_receive_message_size=max_receive_message_size)
        if max_send_message_size is not None:
            settings = dataclasses.replace(settings, max_send_message_size=max_send_message_size)
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
        self.wires = get_wires(wires)
        self.my_id = my_id
        self.wire = WireServer(settings=settings, logger=self.log, limits=limits, rng=rng)
        self._inbound = InboundNodes(self, STREAM, my_id, peers, self.log,
                                     self.wire.task_groups)
        for proto in self.wires:
            # each path takes only its wire's content types (INTERNAL before any handler)
            self.wire.register(proto.path, partial(self._node_stream, proto),
                               subtype=proto.accepted_subtypes)
        for proto in WIRES.values():
            if proto not in self.wires:
                self.wire.register(proto.path, partial(self._refuse_wire, proto))
        # kept even when not served, so statuses can always be set
        self.health = HealthService()
        if health:
            self.health.register(self.wire)

    def set_config(self, my_id: int, peers: Iterable[int]) -> None:
        """Set this replica's ID and its peers' IDs (``Server(my_id=, peers=)``
        after construction, e.g. once every replica's port is known); applies
        to NodeStreams opened from now on."""
        self.my_id = my_id
        self._inbound.set_config(my_id, peers)

    # ---- registration ----

    def register_handler(self, method: str, handler: Handler) -> None:
        """Serve ``method`` (full protobuf name, e.g. ``proto.Storage.ReadQC``)."""
        chained = handler
        for interceptor in reversed(self.interceptors):
            chained = chain(interceptor, chained)
        try:
            info: MethodInfo | None = lookup_method(method)
        except UnknownMethodError:
            info = None  # looked up again when the first request arrives
        self._handlers[method] = _Registered(chained, info)
        self.health.add_service(method.rpartition(".")[0])

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
        self.health.server_stopping()
        await self.wire.graceful_shutdown(grace)

    def stop(self) -> None:
        """Stop at once: close connections, cancel handlers."""
        self.health.server_stopping()
        self.wire.stop()

    # ---- the NodeStream ----

    async def _refuse_wire(self, wire: WireProtocol, stream: ServerStream) -> None:
        """A NodeStream of a wire this server does not serve (grpc-go's text, and why)."""
        service = wire.path.lstrip("/").rpartition("/")[0]
        served = ", ".join(f"{w.name!r} ({w.path}, {w.go_version})" for w in self.wires)
        raise StatusError(StatusCode.UNIMPLEMENTED,
                          f"unknown service {service}: this server serves only the {served} "
                          f"wire; a client must use it (Manager(wire=...))")

    async def _node_stream(self, wire: WireProtocol, stream: ServerStream) -> None:
        stream.inbound_limit = self.receive_buffer_size
        state = StreamState(self._receive_loop, self._inbound, stream, wire)
        node = self._inbound.accept(stream, wire, state.metadata)
        try:
            await self._serve_stream(state, node)
        finally:
            if node is not None:
                self._inbound.remove(node, "its NodeStream ended")

    async def _serve_stream(self, state: StreamState, node: Node | None) -> None:
        stream = state.stream
        assert isinstance(stream, ServerStream)
        wire = state.wire
        if self.connect_callback is not None:
            result = self.connect_callback(
                NodeStreamInfo(state.metadata.copy(), stream.peer, wire.name))
            if inspect.isawaitable(result):
                await result
        readers: list[MemoryObjectReceiveStream[bytes | Envelope]] = []
        try:
            await self._run_stream(state, node, readers)
        finally:
            for received in readers:
                # only now: requests buffered before the stream's end were handled
                received.close()
        if state.receive_error is not None:
            # e.g. a request above max_receive_message_size: end the stream with
            # that status (as grpc-go), not OK; a no-op if the client reset it
            raise state.receive_error
        if state.shutting_down:
            stream.end(StatusCode.UNAVAILABLE, "server is shutting down")

    async def _run_stream(self, state: StreamState, node: Node | None,
                          readers: list[MemoryObjectReceiveStream[bytes | Envelope]]) -> None:
        """The stream's tasks: the ordered receive loop (and, on a callable
        stream, the reply reader feeding it), until the stream is finished."""
        stream = state.stream
        assert isinstance(stream, ServerStream)
        async with anyio.create_task_group() as tg:
            state.tg = tg
            if node is not None:
                channel = node.channel
                assert isinstance(channel, InboundChannel)
                state.channel = channel
                send, received = anyio.create_memory_object_stream[bytes | Envelope](
                    max_buffer_size=self.receive_buffer_size or 256)
                readers.append(received)
                state.receive = partial(state.receive_from, received)
                tg.start_soon(self._read_replies, state, send)
            tg.start_soon(self._receive_loop, state)
            if stream.shutdown_requested is not None:
                tg.start_soon(self._watch_shutdown, state, stream.shutdown_requested)
            await state.finished.wait()
            tg.cancel_scope.cancel()

    async def _watch_shutdown(self, state: StreamState, event: anyio.Event) -> None:
        await event.wait()
        state.shutting_down = True
        state.check_finished()

    async def _read_replies(self, state: StreamState,
                            send: MemoryObjectSendStream[bytes | Envelope]) -> None:
        """On a callable stream: route replies to server-initiated calls at once,
        pass everything else on to the ordered receive loop (in order)."""
        stream, wire, channel = state.stream, state.wire, state.channel
        assert channel is not None
        async with send:
            while True:
                try:
                    body = await stream.receive()
                except (EndOfStream, StatusError) as exc:
                    state.receive_error = exc if isinstance(exc, StatusError) else None
                    # its calls fail now, not when the stream's handlers are done
                    self._inbound.remove(channel.node, "its NodeStream ended")
                    return
                try:
                    env = wire.decode(body)
                except EnvelopeError:
                    await send.send(body)  # the receive loop answers it
                    continue
                if env.seq & SERVER_CALL_BIT:
                    channel.deliver(env)
                else:
                    await send.send(env)

    async def _receive_loop(self, state: StreamState) -> None:
        """Receive and handle requests in order until a handler releases
        (a new loop then continues) or the stream ends."""
        receive = state.receive
        while True:
            try:
                body = await receive()
            except (EndOfStream, StatusError) as exc:
                if isinstance(exc, StatusError):
                    state.receive_error = exc
                state.receive_done = True
                state.check_finished()
                return
            try:
                prepared = self._prepare(state, body)
            except StatusError as exc:  # the wire ends the stream for this message
                state.receive_error = exc
                state.receive_done = True
                state.check_finished()
                return
            if prepared is None:
                continue
            handler, request, one_way = prepared
            ctx = ServerCtx(state, request, baton=True)
            state.inflight += 1
            try:
                await self._run(state, ctx, handler, request, one_way)
            finally:
                state.inflight -= 1
                state.check_finished()
            if ctx.end_inline():
                return  # the baton went to the loop that release() started

    def _prepare(self, state: StreamState, body: bytes | Envelope
                 ) -> tuple[Handler, Message[Any], bool] | None:
        """Decode a request (unless already decoded); answer protocol-level
        errors directly.

        Raises StatusError when the wire ends the stream for this message.
        """
        stream = state.stream
        wire = state.wire
        try:
            env = body if isinstance(body, Envelope) else wire.decode(body)
        except EnvelopeError as exc:
            fatal = wire.undecodable(exc)
            if fatal is not None:
                raise fatal from None
            if exc.seq_no:
                self._reply_error(state, Envelope(exc.seq_no, exc.method), StatusError(
                    StatusCode.INTERNAL, f"cannot decode request: {exc}"))
            else:
                self.log.warning("dropping undecodable request from %s: %s",
                                 getattr(stream, "peer", None), exc)
            return None
        if state.channel is not None and env.seq & SERVER_CALL_BIT:
            state.channel.deliver(env)  # a reply to a server-initiated call
            return None
        method = env.method
        if state.shutting_down:
            self._reply_error(state, env, StatusError(StatusCode.UNAVAILABLE,
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
            self._reply_error(state, env, wire.unknown_method(method))
            return None
        try:
            request = info.request_type.FromString(env.payload)
        except DecodeError as exc:
            self._reply_error(state, env, wire.bad_payload(
                method, info.request_type.DESCRIPTOR.full_name, exc))
            return None
        return registered.handler, Message(env, request), info.one_way

    def _reply_error(self, state: StreamState, request: Envelope, exc: StatusError) -> None:
        try:
            state.stream.send_nowait(state.wire.encode_error(request, exc))
        except StatusError:
            pass  # the client is gone

    async def _run(self, state: StreamState, ctx: ServerCtx, handler: Handler,
                   request: Message[Any], one_way: bool) -> None:
        stream = state.stream
        try:
            reply = await handler(ctx, request)
        except StatusError as exc:
            if not one_way:
                self._reply_error(state, request.envelope, exc)
            return
        except Exception as exc:
            self.log.exception("handler for %s failed", request.method)
            if not one_way:
                self._reply_error(state, request.envelope, StatusError(
                    StatusCode.UNKNOWN, str(exc)))
            return
        if reply is not None and not one_way:
            try:
                envelope = reply_bytes(state.wire, reply)
            except Exception as exc:  # not a Message, or it does not serialize
                self.log.exception("handler for %s returned a bad reply", request.method)
                self._reply_error(state, request.envelope, StatusError(
                    StatusCode.INTERNAL, f"cannot encode the reply: {exc!r}"))
                return
            try:
                stream.send_nowait(envelope)
            except MessageTooLarge as exc:
                self._reply_error(state, request.envelope, exc)
            except StatusError:
                pass  # the client is gone


    # ---- as a client's back-channel (Manager(server=...)) ----

    def back_channel_dispatcher(self, stream: Stream, wire: WireProtocol,
                                start: Callable[..., object]) -> Callable[[Envelope], None]:
        """Serve server-initiated requests arriving on a client's ``stream``
        (or in-process requests, :mod:`gorums_h2.local`): the returned function
        starts each request's handler in its own task with ``start`` (a task
        group's ``start_soon``; concurrently, no ordering, as master); the reply goes back
        on ``stream`` with the request's ID and method; an unknown method is
        answered in-band with the wire's UNIMPLEMENTED (code 12)."""
        state = StreamState(self._receive_loop, self._inbound, stream, wire, Metadata())

        def dispatch(env: Envelope) -> None:
            try:
                prepared = self._prepare(state, env)
            except StatusError:
                return  # not reachable for a decoded envelope
            if prepared is None:
                return
            handler, request, one_way = prepared
            ctx = ServerCtx(state, request, baton=False)
            start(self._run, state, ctx, handler, request, one_way)

        return dispatch
