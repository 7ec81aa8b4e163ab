"""What a server handler sees: :class:`ServerCtx`, the ``Handler`` and
``Interceptor`` types, and the adapters generated code registers with
(:func:`unary_handler`, :func:`one_way_handler`, :func:`stream_handler`).

The serving machinery (:class:`~gorums_h2.server.Server`) creates one
:class:`StreamState` per client stream and one :class:`ServerCtx` per
request; the context reaches the machinery only through the callables the
state carries (``receive_loop``, ``inbound``), never through the server's
attributes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream
from google.protobuf.message import Message as ProtoMessage

from gorums_h2.codec import Envelope, WireProtocol
from gorums_h2.message import Message
from gorums_h2.wire.connection import Stream
from gorums_h2.wire.errors import EndOfStream, reraisable
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.status import StatusError

if TYPE_CHECKING:
    from gorums_h2.configuration import Configuration
    from gorums_h2.inbound import InboundChannel, InboundNodes

__all__ = [
    "Handler",
    "Interceptor",
    "NodeStreamInfo",
    "ServerCtx",
    "StreamState",
    "chain",
    "one_way_handler",
    "reply_bytes",
    "stream_handler",
    "unary_handler",
]

Req = TypeVar("Req", bound=ProtoMessage)
Resp = TypeVar("Resp", bound=ProtoMessage)

Handler: TypeAlias = Callable[["ServerCtx", Message[Any]], Awaitable["Message[Any] | None"]]
"""``async def handler(ctx, request) -> reply or None`` (Go's ``Handler``)."""

Interceptor: TypeAlias = Callable[
    ["ServerCtx", Message[Any], Handler], Awaitable["Message[Any] | None"]]
"""``async def interceptor(ctx, request, next_handler) -> reply or None`` (Go's ``Interceptor``)."""


@dataclass(frozen=True, slots=True)
class NodeStreamInfo:
    """What a connect callback learns about a client's new NodeStream
    (``wire``: ``"ordering"`` or ``"stream"``)."""

    metadata: Metadata
    peer: Any
    wire: str = "ordering"


class StreamState:
    """Per client stream: the wire stream, its task group, in-flight handlers
    (package-internal: created by :class:`~gorums_h2.server.Server`).

    ``receive_loop`` is the server's ordered receive loop (a release starts
    it again in a new task); ``inbound`` the server's peers and back-channel
    clients. On a client, the state of its NodeStream's back-channel
    (``stream`` is then the client's stream and ``metadata`` empty).
    """

    __slots__ = ("channel", "finished", "inbound", "inflight", "metadata", "receive",
                 "receive_done", "receive_error", "receive_loop", "shutting_down", "stream",
                 "tg", "wire")

    def __init__(self, receive_loop: Callable[[StreamState], Coroutine[Any, Any, None]],
                 inbound: InboundNodes, stream: Stream, wire: WireProtocol,
                 metadata: Metadata | None = None) -> None:
        self.receive_loop = receive_loop
        self.inbound = inbound
        self.stream = stream
        self.wire = wire
        self.metadata = (metadata if metadata is not None
                         else stream.head.metadata)  # type: ignore[attr-defined]
        # the client's node when it can be called back (peer or back-channel client)
        self.channel: InboundChannel | None = None
        self.receive: Callable[[], Awaitable[bytes | Envelope]] = stream.receive
        self.tg: anyio.abc.TaskGroup | None = None
        self.inflight = 0
        self.receive_done = False
        self.receive_error: StatusError | None = None
        self.shutting_down = False
        self.finished = anyio.Event()

    def check_finished(self) -> None:
        if (self.receive_done or self.shutting_down) and self.inflight == 0:
            self.finished.set()

    async def receive_from(self, received: MemoryObjectReceiveStream[bytes | Envelope]
                           ) -> bytes | Envelope:
        """The next request a reply reader passed on (a callable stream's
        ``receive``); the reader's end is the stream's end (its status error,
        or EndOfStream)."""
        try:
            return await received.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if self.receive_error is not None:
                raise reraisable(self.receive_error) from None
            raise EndOfStream() from None


class ServerCtx:
    """The context of one request on the server (Go's ``ServerCtx``).

    * :meth:`release` lets the next request of this client start now;
    * :meth:`send_message` sends a reply now (streaming quorum calls: many);
    * ``metadata`` is the stream's headers followed by the request's entries;
    * ``peer`` is the client's address; ``cancelled`` is true once the
      client's stream died (the handler is then also cancelled).
    """

    __slots__ = ("_baton", "_md", "_released", "_state", "request")

    def __init__(self, state: StreamState, request: Message[Any], baton: bool) -> None:
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
            state.tg.start_soon(state.receive_loop, state)

    @property
    def released(self) -> bool:
        return self._released

    def end_inline(self) -> bool:
        """Called by the receive loop once this (inline) request's handler
        returned: True if it released (the loop it started carries on). A
        release() after this starts nothing."""
        released = self._released
        self._released = True
        return released

    async def send_message(self, msg: ProtoMessage | Message[Any]) -> None:
        """Send ``msg`` as a reply to this request (same seq number and method).

        Raises the stream's StatusError if the client is gone.
        """
        state = self._state
        stream = state.stream
        if isinstance(msg, Message):
            envelope = reply_bytes(state.wire, msg)
        else:
            envelope = state.wire.encode_reply(self.request.envelope, msg.SerializeToString())
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
        return getattr(self._state.stream, "peer", None)

    def config(self) -> Configuration:
        """The server's connected peers (Go master's ``ServerCtx.Config()``): the
        known nodes (``Server(peers=...)``) whose clients opened a NodeStream with
        their ``gorums-node-id``. Calls on it (quorum calls, multicast, RPC,
        unicast) travel as server-initiated requests over those streams; a
        peer whose stream ends fails its part with ConnectionClosed."""
        return self._state.inbound.config()

    def client_config(self) -> Configuration:
        """The connected anonymous back-channel clients (``ServerCtx.ClientConfig()``):
        clients created with ``Manager(server=...)`` sending ``gorums-node-id: 0``,
        with IDs from ``1 << 20``."""
        return self._state.inbound.client_config()

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def seq_no(self) -> int:
        return self.request.seq_no

    @property
    def cancelled(self) -> bool:
        return self._state.stream.local_closed


def reply_bytes(wire: WireProtocol, msg: Message[Any]) -> bytes:
    """The encoded reply a handler returned (a status in its envelope: a status reply)."""
    env = msg.envelope
    if env.status is not None:
        return wire.encode_error(env, env.status)
    payload = msg.msg.SerializeToString() if msg.msg is not None else b""
    return wire.encode_reply(env, payload)


def chain(interceptor: Interceptor, next_handler: Handler) -> Handler:
    """``next_handler`` wrapped by ``interceptor`` (the first one registered runs outermost)."""

    async def handler(ctx: ServerCtx, request: Message[Any]) -> Message[Any] | None:
        return await interceptor(ctx, request, next_handler)

    return handler


# ---- adapters used by generated code ----


def unary_handler(fn: Callable[[ServerCtx, Req], Awaitable[Resp]]) -> Handler:
    """Adapt ``async def method(ctx, req) -> reply`` (ordered RPC, quorum call)."""

    async def handler(ctx: ServerCtx, request: Message[Any]) -> Message[Any] | None:
        reply = await fn(ctx, request.msg)  # type: ignore[arg-type]
        return Message(request.envelope, reply)

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

