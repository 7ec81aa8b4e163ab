"""One quorum call in flight: :class:`QuorumCallState` (a route on every
node's channel, the queue of replies, the deadline) and :class:`CallIterator`
(the iteration a user holds, whose abandonment ends the call).

The user-facing side, :class:`~gorums_h2.quorumcall.Responses`, creates one
state per call and aggregates its replies: through the iterator protocol
(``__anext__``, one reply at a time, as interceptors and ``async for`` see
them), or, for a threshold without interceptors, through
:meth:`QuorumCallState.gather`, which wakes its task once the quorum is
reached (or became impossible) instead of once per reply.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

from gorums_h2 import _telemetry
from gorums_h2.channel import wait_for_draining
from gorums_h2.codec import Envelope, MethodInfo
from gorums_h2.interceptors import ClientCtx
from gorums_h2.responses import NodeResponse, aclose_iterator
from gorums_h2.routes import decode_reply
from gorums_h2.wire.clock import loop_time
from gorums_h2.wire.signal import Wakeup
from gorums_h2.wire.status import StatusCode, StatusError

if TYPE_CHECKING:
    from gorums_h2._telemetry import CallObservation
    from gorums_h2.channel import NodeChannel
    from gorums_h2.context import ConfigContext
    from gorums_h2.node import Node

__all__ = ["CallIterator", "QuorumCallState"]

Resp = TypeVar("Resp", bound=ProtoMessage)

# NodeResponse from a (node_id, value, err) tuple in one C call (the
# NamedTuple's generated __new__ is a Python frame, and this runs per reply)
_response: Any = partial(tuple.__new__, NodeResponse)


class QuorumCallState(Generic[Resp]):
    """One call to the nodes of a configuration: a Route on each channel and
    the async iterator of its replies."""

    __slots__ = (
        "_active",
        "_client_ctx",
        "_ctx",
        "_info",
        "_queue",
        "_request",
        "_response_type",
        "_seq",
        "_telemetry",
        "_wake_at",
        "_wakeup",
        "closed",
        "deadline",
        "expected",
        "quorum",
        "sent_at",
        "started",
        "streaming",
    )

    def __init__(self, ctx: ConfigContext, request: ProtoMessage, info: MethodInfo,
                 response_type: type[Resp], client_ctx: ClientCtx[Any, Resp],
                 streaming: bool) -> None:
        self._ctx = ctx
        self._request = request
        self._info = info
        self._response_type = response_type
        self._client_ctx = client_ctx
        self.streaming = streaming
        self._queue: deque[NodeResponse[Resp]] = deque()
        self._wakeup = Wakeup()
        # deliver() wakes the consumer once this many replies are queued (or
        # at an error, or when no node is left): 1 for iteration, the
        # successes still missing for gather()
        self._wake_at = 1
        self._active: dict[int, NodeChannel] = {}
        self._seq = 0
        self.sent_at = 0.0
        self.deadline: float | None = None
        self.expected = 0
        self.started = False
        self.closed = False
        self.quorum: str | None = None  # the terminal method, for telemetry
        self._telemetry: CallObservation | None = None

    # ---- sending ----

    async def start_async(self) -> None:
        """:meth:`start`, after waiting briefly for nodes whose
        ``send_buffer_size`` queue is full but draining (never for a stalled
        node, never past the call's timeout)."""
        ctx = self._ctx
        config = ctx.configuration
        manager = config.manager
        if manager is not None and manager.send_buffer_size:  # else nothing to wait for
            timeout = ctx.timeout
            await wait_for_draining(config, None if timeout is None else loop_time() + timeout)
        self.start()

    def start(self) -> None:
        """Send the request to every node now (synchronously, in node order).

        Never waits: a node that is down, or whose send queue is full
        (:class:`~gorums_h2.channel.SendQueueFull`), gets an error reply at
        once; a node whose first connection attempt is still running holds
        the message until it ends (the call's timeout still counts).
        """
        if self.started:
            return
        ctx = self._ctx
        config = ctx.configuration
        manager = config.manager
        if manager is not None:
            manager.check_open()  # before anything counts as sent
        self.started = True
        if manager is None:  # empty configuration
            return
        seq = self._seq = manager.next_seq()
        header = manager.wire.request_header(seq, self._info.method_field, ctx.entries_bytes)
        hooks = _telemetry.hooks
        if hooks is not None:
            self._telemetry = hooks.start_call(
                self._info.name, "quorumcall_stream" if self.streaming else "quorumcall",
                config.size())
        self.sent_at = now = loop_time()
        if ctx.timeout is not None:
            self.deadline = now + ctx.timeout
        active = self._active
        for node, envelope in self._client_ctx.envelopes(header):
            channel = node.channel
            self.expected += 1
            try:
                channel.send(seq, envelope, self)
            except StatusError as exc:
                self._queue.append(NodeResponse(node.id, None, exc))
                if self._telemetry is not None:
                    self._telemetry.node_done(node.id, exc)
                continue
            active[node.id] = channel

    # ---- Route ----

    def deliver(self, node: Node, env: Envelope) -> None:
        response: NodeResponse[Resp]
        if env.status is None:
            try:
                response = _response((node.id, self._response_type.FromString(env.payload),
                                      None))
            except DecodeError:  # decode_reply's INTERNAL error, with its text
                response = self._undecodable(node, env)
        else:
            response = _response((node.id, None, env.status))
        active = self._active
        if not self.streaming:
            active.pop(node.id, None)
        queue = self._queue
        queue.append(response)
        if len(queue) >= self._wake_at or response.err is not None or not active:
            self._wakeup.set()
        if self._telemetry is not None:
            self._telemetry.node_done(node.id, response.err)

    def _undecodable(self, node: Node, env: Envelope) -> NodeResponse[Resp]:
        try:
            decode_reply(env, self._response_type, node.id)
        except StatusError as exc:
            return NodeResponse(node.id, None, exc)
        raise AssertionError("decode_reply accepted what FromString refused")

    def fail(self, node: Node, exc: BaseException) -> None:
        if self._active.pop(node.id, None) is not None:
            self._queue.append(NodeResponse(node.id, None, exc))
            self._wakeup.set()
            if self._telemetry is not None:
                self._telemetry.node_done(node.id, exc)

    # ---- iteration ----

    def __aiter__(self) -> QuorumCallState[Resp]:
        return self

    async def __anext__(self) -> NodeResponse[Resp]:
        try:
            if not self.started:
                await self.start_async()
            queue = self._queue
            while not queue:
                await self._wait_replies()
            return queue.popleft()
        except BaseException as exc:
            if not isinstance(exc, StopAsyncIteration):
                self.close(exc)  # cancelled or failed: drop our routes
            raise

    async def _wait_replies(self) -> None:
        """Wait for the next wake-up (a reply, a failure, the deadline).

        Raises StopAsyncIteration when no node is left to answer; at the
        deadline, the nodes still missing are expired (:meth:`_expire`).
        """
        if not self._active:
            self.close()
            raise StopAsyncIteration
        deadline = self.deadline
        if deadline is not None and loop_time() >= deadline:
            self._expire()
            return
        await self._wakeup.wait(deadline)

    async def gather(self, n: int) -> tuple[Resp | None, int, dict[int, BaseException]]:
        """Consume replies until ``n`` succeeded or that became impossible.

        Returns ``(first successful reply, successes, errors by node)``; the
        caller decides (``successes >= n``: done; else the quorum failed,
        and :meth:`take_queued` holds replies not consumed). The task wakes
        once per step that can decide: ``deliver`` wakes it when the
        missing successes are queued, at an error, or when no node is left,
        never for a reply that cannot decide. Errors propagate as raised
        (cancellation included); the caller closes the call.
        """
        if not self.started:
            await self.start_async()
        queue = self._queue
        errors: dict[int, BaseException] = {}
        first: Resp | None = None
        successes = 0
        tolerated = self.expected - n  # errors beyond this make n impossible
        try:
            while True:
                while queue:
                    response = queue.popleft()
                    err = response.err
                    if err is not None:
                        errors[response.node_id] = err
                        if len(errors) > tolerated:
                            return first, successes, errors
                        continue
                    successes += 1
                    if first is None:
                        first = response.value
                    if successes >= n:
                        return first, successes, errors
                # (_wait_replies inline: one coroutine layer less per wake)
                if not self._active:
                    return first, successes, errors
                deadline = self.deadline
                if deadline is not None and loop_time() >= deadline:
                    self._expire()
                    continue
                self._wake_at = n - successes
                await self._wakeup.wait(deadline)
        finally:
            self._wake_at = 1

    def take_queued(self) -> list[NodeResponse[Resp]]:
        """Remove and return the replies that arrived but were not consumed."""
        queued = list(self._queue)
        self._queue.clear()
        return queued

    def _expire(self) -> None:
        """The call's timeout passed: non-streaming calls report the missing nodes."""
        active, self._active = self._active, {}
        for node_id, channel in active.items():
            channel.remove_route(self._seq)
            err = StatusError(StatusCode.DEADLINE_EXCEEDED,
                              f"no reply from node {node_id} within the call's timeout")
            if not self.streaming:
                self._queue.append(NodeResponse(node_id, None, err))
            if self._telemetry is not None:
                self._telemetry.node_done(node_id, err)

    def close(self, err: BaseException | None = None) -> None:
        """End the call: remove its routes from every channel (idempotent);
        ``err`` is what the call failed with, for telemetry.

        Replies not yet consumed are dropped (a consumer waiting in another
        task is woken and counts them first), and later ones are not queued.
        """
        self.closed = True
        wakeup = self._wakeup
        if wakeup.waiting:
            # a consumer waits in another task (aclose() from elsewhere): it
            # wakes, counts what is queued (gather() lets replies that cannot
            # decide wait unconsumed) and sees that no node is left
            wakeup.set()
        else:
            self._queue.clear()
        observation = self._telemetry
        if observation is not None:
            self._telemetry = None
            observation.quorum = self.quorum
            observation.end(err)
        active = self._active
        if active:
            seq = self._seq
            for channel in active.values():
                channel.remove_route(seq)
            active.clear()


class CallIterator(Generic[Resp]):
    """An iteration over a call's replies as the user holds it (``async for``).

    ``inner`` is the call itself or the iterator of its interceptor chain.
    The channels' route tables reference the call, never this object, so the
    moment the iteration is abandoned (``break`` out of ``async for`` drops
    the loop's iterator), a finalizer ends the call and its routes are gone —
    through reference counting, without waiting for ``gc.collect()``, and
    even while an interceptor's suspended generator still holds the call.
    :meth:`aclose` ends it explicitly and closes ``inner``.
    """

    __slots__ = ("__weakref__", "_call", "_close", "_inner")

    def __init__(self, inner: AsyncIterator[NodeResponse[Resp]],
                 call: QuorumCallState[Resp]) -> None:
        self._inner = inner
        self._call = call
        self._close = weakref.finalize(self, call.close)

    def __aiter__(self) -> CallIterator[Resp]:
        return self

    async def __anext__(self) -> NodeResponse[Resp]:
        try:
            return await self._inner.__anext__()
        except BaseException:
            self._close()  # ended, failed or cancelled: release the routes now
            raise

    async def aclose(self) -> None:
        """End the call (its routes are removed) and close the inner iterator."""
        self._close()
        if self._inner is not self._call:
            await aclose_iterator(self._inner)
