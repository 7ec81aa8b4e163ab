"""The call types: ordered RPC, unicast, multicast, quorum call, streaming quorum call.

These functions are what generated stubs call (Go's ``RPCCall``, ``Unicast``,
``Multicast``, ``QuorumCall``, ``QuorumCallStream``); ``method`` is the full
protobuf method name, e.g. ``proto.Storage.ReadQC``.

Errors: a node that is down fails its part at once with a StatusError of code
UNAVAILABLE (:class:`ConnectionBroken`, or :class:`NodeShutdownError` after a
graceful shutdown); so does a node whose send queue is full
(:class:`~gorums_h2.channel.SendQueueFull`) in quorum calls and multicasts,
while ordered RPCs and unicasts wait for room; a server-side error arrives as
that StatusError; the context's ``timeout`` (counted from the call's start,
and bounding every wait in it) gives DEADLINE_EXCEEDED; an anyio cancel scope
cancels the call and removes its routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from google.protobuf.message import Message as ProtoMessage

from gorums_h2 import _telemetry
from gorums_h2.channel import SendQueueFull, wait_for_draining
from gorums_h2.codec import Envelope, MethodInfo, lookup_method
from gorums_h2.errors import SendFailureError, TypeMismatchError
from gorums_h2.interceptors import ClientCtx, QuorumInterceptor
from gorums_h2.quorumcall import Responses
from gorums_h2.responses import ResponseSeq
from gorums_h2.routes import decode_reply
from gorums_h2.wire.clock import loop_time
from gorums_h2.wire.signal import Wakeup
from gorums_h2.wire.status import StatusCode, StatusError

if TYPE_CHECKING:
    from gorums_h2.channel import NodeChannel
    from gorums_h2.context import ConfigContext, NodeContext
    from gorums_h2.node import Node

__all__ = ["method_info", "multicast", "quorum_call", "quorum_call_stream", "rpc_call", "unicast"]

Req = TypeVar("Req", bound=ProtoMessage)
Resp = TypeVar("Resp", bound=ProtoMessage)


@lru_cache(maxsize=4096)
def method_info(method: str, response_type: type[ProtoMessage] | None = None) -> MethodInfo:
    """The method's info, checked against the expected response type.

    Raises :class:`~gorums_h2.codec.UnknownMethodError` if the method is not
    in the descriptor pool (import its ``_pb2`` module), and
    :class:`TypeMismatchError` if ``response_type`` is not its output type.
    """
    info = lookup_method(method)
    if response_type is not None and response_type is not info.response_type:
        expected = info.response_type.DESCRIPTOR.full_name
        descriptor = getattr(response_type, "DESCRIPTOR", None)
        got = getattr(descriptor, "full_name", getattr(response_type, "__name__", response_type))
        if got != expected:
            raise TypeMismatchError(f"{method} returns {expected}, not {got}")
        info = MethodInfo(info.name, info.request_type, response_type, info.call_type,
                          info.method_field)
    return info


async def _wait_room(channel: NodeChannel, deadline: float | None,
                     limit: float | None) -> None:
    """Wait while ``channel``'s send queue is full, until ``deadline``.

    Returns at once when there is room or the node is down (``send`` then
    raises its error); raises DEADLINE_EXCEEDED when the deadline passes first.
    """
    full = channel.room_error()
    if not isinstance(full, SendQueueFull) and not channel.count_full():
        return
    if deadline is None:
        await channel.wait_room()
        return
    with anyio.move_on_after(deadline - loop_time()):
        await channel.wait_room()
        return
    full = channel.room_error()
    why = full.message if full is not None else (
        f"node {channel.address}: send queue full"
        f" ({channel.options.send_buffer_size} messages unwritten)")
    raise StatusError(StatusCode.DEADLINE_EXCEEDED, f"no room to send within {limit:g}s: {why}")


def _request(ctx: NodeContext, info: MethodInfo, req: ProtoMessage) -> tuple[int, bytes]:
    """A new seq number and ``req`` framed by the manager's wire for one node."""
    manager = ctx.node.manager
    seq = manager.next_seq()
    wire = manager.wire
    return seq, wire.frame(wire.request_header(seq, info.method_field, ctx.entries_bytes),
                           req.SerializeToString())


class _SingleReply:
    """Route of an ordered RPC: one reply from one node."""

    __slots__ = ("done", "env", "err", "sent_at", "wakeup")
    streaming = False

    def __init__(self, sent_at: float) -> None:
        self.wakeup = Wakeup()
        self.done = False
        self.env: Envelope | None = None
        self.err: BaseException | None = None
        self.sent_at = sent_at

    def deliver(self, node: Node, env: Envelope) -> None:
        self.env = env
        self.done = True
        self.wakeup.set()

    def fail(self, node: Node, exc: BaseException) -> None:
        self.err = exc
        self.done = True
        self.wakeup.set()


async def rpc_call(ctx: NodeContext, req: ProtoMessage, method: str,
                   response_type: type[Resp]) -> Resp:
    """An ordered RPC to one node: send ``req`` and return the reply.

    Waits while the node's send queue is full, then sends (in call order).
    Raises the node's StatusError, DEADLINE_EXCEEDED after ``ctx.timeout``
    (which bounds the whole call: waiting for room and for the reply),
    ConnectionClosed if the manager is closed.
    """
    hooks = _telemetry.hooks
    if hooks is None:
        return await _rpc_call(ctx, req, method, response_type)
    call = hooks.start_call(method, "rpc", 1)
    try:
        reply = await _rpc_call(ctx, req, method, response_type)
    except BaseException as exc:
        call.node_done(ctx.node.id, exc)
        call.end(exc)
        raise
    call.node_done(ctx.node.id, None)
    call.end(None)
    return reply


async def _rpc_call(ctx: NodeContext, req: ProtoMessage, method: str,
                    response_type: type[Resp]) -> Resp:
    info = method_info(method, response_type)  # type: ignore[arg-type]
    node = ctx.node
    node.manager.check_open()
    channel = node.channel
    timeout = ctx.timeout
    now = loop_time()
    deadline = None if timeout is None else now + timeout
    if channel.must_wait_room():
        await _wait_room(channel, deadline, timeout)
        now = loop_time()
    seq, envelope = _request(ctx, info, req)
    reply = _SingleReply(now)
    channel.send(seq, envelope, reply)
    try:
        while not reply.done:
            if deadline is not None and loop_time() >= deadline:
                raise StatusError(StatusCode.DEADLINE_EXCEEDED,
                                  f"no reply from node {node.id} within {timeout:g}s")
            await reply.wakeup.wait(deadline)
    finally:
        if not reply.done:
            channel.remove_route(seq)
    if reply.err is not None:
        raise reply.err
    assert reply.env is not None
    return decode_reply(reply.env, info.response_type, node.id)  # type: ignore[return-value]


async def unicast(ctx: NodeContext, req: ProtoMessage, method: str, *,
                  ignore_errors: bool = False) -> None:
    """A one-way message to one node (no reply).

    Hands the message to the node's connection, in call order: waits first
    while that connection's send queue is full (back-pressure, as grpc-go's
    SendMsg waits for write quota) — at most ``ctx.timeout`` (then
    DEADLINE_EXCEEDED) or as long as the caller's cancel scope allows — and
    raises the node's StatusError if it is down or its stream failed. With
    ``ignore_errors`` it never waits and never raises (fire and forget: the
    message is queued even beyond the limit, or dropped if the node is down).
    """
    hooks = _telemetry.hooks
    if hooks is None:
        return await _unicast(ctx, req, method, ignore_errors)
    call = hooks.start_call(method, "unicast", 1)
    try:
        await _unicast(ctx, req, method, ignore_errors)
    except BaseException as exc:
        call.node_done(ctx.node.id, exc)
        call.end(exc)
        raise
    call.node_done(ctx.node.id, None)
    call.end(None)


async def _unicast(ctx: NodeContext, req: ProtoMessage, method: str,
                   ignore_errors: bool) -> None:
    info = method_info(method)
    node = ctx.node
    if not ignore_errors:
        node.manager.check_open()
    channel = node.channel
    if ignore_errors:
        seq, envelope = _request(ctx, info, req)
        try:
            channel.send(seq, envelope, None, force=True)
        except StatusError:
            pass
        return
    timeout = ctx.timeout
    if channel.must_wait_room():
        await _wait_room(channel, None if timeout is None else loop_time() + timeout, timeout)
    seq, envelope = _request(ctx, info, req)
    channel.send(seq, envelope, None)


async def _no_replies() -> Any:
    return
    yield  # pragma: no cover


async def multicast(ctx: ConfigContext, req: Req, method: str, *, ignore_errors: bool = False,
                    interceptors: Sequence[QuorumInterceptor[Req, Any]] = ()) -> None:
    """A one-way message to every node of the configuration.

    ``map_request`` interceptors can change (or skip, with None) the message
    per node. Hands every message to its node's connection at once, never
    waiting for a node that is down or stalled: a node whose send queue is
    full (:class:`~gorums_h2.channel.SendQueueFull`) does not get it, and
    :class:`SendFailureError` names those nodes (a queue of
    ``send_buffer_size`` messages that drains is waited for briefly, see
    :data:`~gorums_h2.channel.STALLED_AFTER`); with ``ignore_errors`` it
    never waits and never raises.
    """
    hooks = _telemetry.hooks
    if hooks is None:
        return await _multicast(ctx, req, method, ignore_errors, interceptors)
    call = hooks.start_call(method, "multicast", ctx.configuration.size())
    try:
        await _multicast(ctx, req, method, ignore_errors, interceptors)
    except BaseException as exc:
        failed = exc.node_errors if isinstance(exc, SendFailureError) else {}
        for node in ctx.configuration:
            call.node_done(node.id, failed.get(node.id, exc if not failed else None))
        call.end(exc)
        raise
    for node in ctx.configuration:
        call.node_done(node.id, None)
    call.end(None)


async def _multicast(ctx: ConfigContext, req: Req, method: str, ignore_errors: bool,
                     interceptors: Sequence[QuorumInterceptor[Req, Any]]) -> None:
    info = method_info(method)
    config = ctx.configuration
    manager = config.manager
    if manager is None:
        return
    if not ignore_errors:
        manager.check_open()
    client_ctx: ClientCtx[Req, Any] = ClientCtx(req, config, method)
    empty: ResponseSeq[Any] = ResponseSeq(_no_replies)
    for interceptor in interceptors:
        interceptor(client_ctx, empty)
    if not ignore_errors:
        timeout = ctx.timeout
        await wait_for_draining(config, None if timeout is None else loop_time() + timeout)
    seq = manager.next_seq()
    header = manager.wire.request_header(seq, info.method_field, ctx.entries_bytes)
    errors: dict[int, BaseException] = {}
    for node, envelope in client_ctx.envelopes(header):
        try:
            node.channel.send(seq, envelope, None)
        except StatusError as exc:
            errors[node.id] = exc
    if errors and not ignore_errors:
        raise SendFailureError(errors)


def quorum_call(ctx: ConfigContext, req: Req, method: str, response_type: type[Resp], *,
                interceptors: Sequence[QuorumInterceptor[Req, Resp]] = ()) -> Responses[Resp]:
    """A quorum call: returns :class:`Responses` (nothing is sent until a
    terminal method or iteration starts)."""
    info = method_info(method, response_type)  # type: ignore[arg-type]
    return Responses(ctx, req, info, info.response_type, interceptors)  # type: ignore[arg-type]


def quorum_call_stream(ctx: ConfigContext, req: Req, method: str, response_type: type[Resp], *,
                       interceptors: Sequence[QuorumInterceptor[Req, Resp]] = ()
                       ) -> Responses[Resp]:
    """A streaming quorum call: servers may send many replies; iteration goes
    on until the call is cancelled, times out, or every node's stream ends."""
    info = method_info(method, response_type)  # type: ignore[arg-type]
    return Responses(ctx, req, info, info.response_type, interceptors,  # type: ignore[arg-type]
                     streaming=True)
