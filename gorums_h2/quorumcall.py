"""Quorum calls: :class:`Responses`, the object a quorum call returns (its call
state, a route on every node's channel, is :mod:`gorums_h2.quorum_state`).

Nothing is sent when a :class:`Responses` is created: sending happens when a
terminal method (``first``, ``majority``, ``all``, ``threshold``,
``async_*``, ``correctable``) or iteration starts, after the interceptors had
their say (per-node request transforms). Sending never waits for a node
that is down or stalled: its part fails at once (only a draining queue at
its ``send_buffer_size`` limit is waited for, briefly). The call's
routes are removed when it ends — all replies in, a terminal method returns
or raises, the timeout passes, the caller is cancelled, the iteration is
left early, or the :class:`Responses` is closed (``async with``,
:meth:`Responses.aclose`) — so nothing is left behind, and no reply queues up
for an abandoned call. None of this waits for the garbage collector.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.protobuf.message import Message as ProtoMessage

from gorums_h2.codec import MethodInfo
from gorums_h2.errors import IncompleteError
from gorums_h2.futures import (
    LEVEL_NOT_SET,
    Async,
    Correctable,
    drive_async,
    update_correctable,
)
from gorums_h2.interceptors import ClientCtx, QuorumInterceptor
from gorums_h2.quorum_state import CallIterator, QuorumCallState
from gorums_h2.responses import (
    CONSUMED,
    NodeResponse,
    ResponseSeq,
    aclose_iterator,
    claim,
    claimed_iter,
)

if TYPE_CHECKING:
    from gorums_h2.context import ConfigContext

__all__ = ["Responses"]

Req = TypeVar("Req", bound=ProtoMessage)
Resp = TypeVar("Resp", bound=ProtoMessage)


class Responses(Generic[Resp]):
    """The replies of a quorum call and the ways to aggregate them (Go's ``Responses``).

    Terminal methods: ``await first()``, ``majority()``, ``all()``,
    ``threshold(n)`` return the first successful reply once enough nodes
    answered, or raise :class:`IncompleteError` with every node's error;
    ``async_*`` return an :class:`Async` future and send at once;
    ``correctable(n)`` returns a :class:`Correctable`. ``async for r in
    responses`` yields :class:`NodeResponse` values as they arrive; so do
    ``seq()``, ``ignore_errors()`` and ``filter()``. A Responses is single-use:
    a second iteration or terminal method raises RuntimeError (make a new call).
    A threshold above the configuration's size raises ValueError at once, and
    a call on a closed manager raises ``ConnectionClosed``.

    Cleanup is deterministic: leaving an iteration early (``break``, an
    exception, cancellation) ends the call at once, and ``async with
    responses:`` or ``await responses.aclose()`` end it explicitly (its routes
    are removed and replies arriving later are dropped).
    """

    __slots__ = ("_call", "_client_ctx", "_intercepted", "_iterators", "_seq", "_used")

    def __init__(
        self,
        ctx: ConfigContext,
        request: ProtoMessage,
        info: MethodInfo,
        response_type: type[Resp],
        interceptors: Sequence[QuorumInterceptor[Any, Resp]] = (),
        *,
        streaming: bool = False,
    ) -> None:
        client_ctx: ClientCtx[Any, Resp] = ClientCtx(request, ctx.configuration, info.name)
        self._client_ctx = client_ctx
        self._call = QuorumCallState(ctx, request, info, response_type, client_ctx, streaming)
        seq: ResponseSeq[Resp] = ResponseSeq(self._call)
        for interceptor in interceptors:
            seq = interceptor(client_ctx, seq)
        self._seq = seq
        self._intercepted = bool(interceptors)
        # the iterations handed out, in order (closed in that order; weak: an
        # abandoned one ends its call through its finalizer)
        self._iterators: list[weakref.ref[CallIterator[Resp]]] | None = None
        self._used = False

    def _use(self) -> None:
        """Claim the replies for one consumer; RuntimeError if already claimed
        (here, or by iterating ``seq()``, ``ignore_errors()`` or ``filter()``)."""
        if self._used:
            raise RuntimeError(CONSUMED)
        claim(self._seq)
        self._used = True

    def _check_threshold(self, n: int, *, positive: bool = True) -> None:
        if positive and n <= 0:
            raise ValueError("threshold must be positive")
        size = self.size()
        # (a streaming call's nodes reply many times: any count can be reached)
        if n > size and not self._call.streaming:
            raise ValueError(f"threshold {n} can never be reached: the configuration has "
                             f"{size} node(s)")

    # ---- explicit cleanup ----

    async def __aenter__(self) -> Responses[Resp]:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """End the call: remove its routes, drop unconsumed replies, close the
        iterations handed out (idempotent; a call never started is not sent)."""
        call = self._call
        call.started = True  # a later terminal method sends nothing
        call.close()
        for ref in list(self._iterators or ()):
            it = ref()
            if it is None:
                continue
            await it.aclose()

    def _guard(self, seq: ResponseSeq[Resp], *, claim: bool = True) -> ResponseSeq[Resp]:
        def iterate() -> AsyncIterator[NodeResponse[Resp]]:
            # (claim=False: the caller already claimed the replies, see _use)
            it = CallIterator(seq.__aiter__() if claim else claimed_iter(seq), self._call)
            if self._iterators is None:
                self._iterators = []
            self._iterators.append(weakref.ref(it))
            return it

        return ResponseSeq(iterate)

    # ---- introspection ----

    def size(self) -> int:
        """Number of nodes the call goes to (the configuration's size)."""
        return self._client_ctx.size()

    @property
    def client_ctx(self) -> ClientCtx[Any, Resp]:
        return self._client_ctx

    # ---- iteration ----

    def seq(self) -> ResponseSeq[Resp]:
        """The reply iterator (starts the call when iterated)."""
        return self._guard(self._seq)

    def __aiter__(self) -> AsyncIterator[NodeResponse[Resp]]:
        self._use()
        return self._guard(self._seq, claim=False).__aiter__()

    def ignore_errors(self) -> ResponseSeq[Resp]:
        return self._guard(self._seq.ignore_errors())

    def filter(self, keep: Callable[[NodeResponse[Resp]], bool]) -> ResponseSeq[Resp]:
        return self._guard(self._seq.filter(keep))

    async def collect_n(self, n: int) -> dict[int, Resp | None]:
        self._use()
        try:
            return await ResponseSeq(partial(claimed_iter, self._seq)).collect_n(n)
        finally:
            self._call.close()

    async def collect_all(self) -> dict[int, Resp | None]:
        self._use()
        try:
            return await ResponseSeq(partial(claimed_iter, self._seq)).collect_all()
        finally:
            self._call.close()

    # ---- terminal methods ----

    async def first(self) -> Resp:
        """The first successful reply."""
        self._call.quorum = self._call.quorum or "first"
        return await self.threshold(1)

    async def majority(self) -> Resp:
        """The first successful reply once a majority (n//2 + 1) succeeded."""
        self._call.quorum = self._call.quorum or "majority"
        return await self.threshold(self.size() // 2 + 1)

    async def all(self) -> Resp:
        """The first successful reply once every node succeeded."""
        self._call.quorum = self._call.quorum or "all"
        return await self.threshold(self.size())

    async def threshold(self, n: int) -> Resp:
        """The first successful reply once ``n`` nodes succeeded.

        Raises :class:`IncompleteError` (with each failed node's error) as
        soon as ``n`` successes became impossible, or when the replies (or the
        call's timeout) ran out; ValueError at once if ``n`` is not in
        1..size; RuntimeError if the replies were already consumed.
        """
        self._check_threshold(n)
        self._use()
        if not self._intercepted:  # (one coroutine layer less per call than _threshold)
            call = self._call
            call.quorum = call.quorum or "threshold"
            return await self._gather(n)
        return await self._threshold(n)

    async def _threshold(self, n: int) -> Resp:
        call = self._call
        call.quorum = call.quorum or "threshold"
        if not self._intercepted:
            return await self._gather(n)
        it: AsyncIterator[NodeResponse[Resp]] = (
            claimed_iter(self._seq) if self._intercepted else call)
        errors: dict[int, BaseException] = {}
        first: Resp | None = None
        successes = 0
        try:
            async for response in it:
                if response.err is not None:
                    errors[response.node_id] = response.err
                    if call.started and len(errors) > call.expected - n:
                        break
                    continue
                successes += 1
                if first is None:
                    first = response.value
                if successes >= n:
                    return first  # type: ignore[return-value]
            failure = _impossible(call, n, successes, errors)
        except BaseException as exc:
            call.close(exc)
            raise
        finally:
            call.close()
            if it is not call:
                await aclose_iterator(it)
        raise failure

    async def _gather(self, n: int) -> Resp:
        """:meth:`_threshold` without interceptors: the call state consumes
        its own replies and wakes this task once per deciding step
        (:meth:`QuorumCallState.gather`), not once per reply."""
        call = self._call
        try:
            first, successes, errors = await call.gather(n)
            if successes >= n:
                return first  # type: ignore[return-value]
            failure = _impossible(call, n, successes, errors)
        except BaseException as exc:
            call.close(exc)
            raise
        finally:
            call.close()
        raise failure

    def async_first(self) -> Async[Resp]:
        self._call.quorum = "async_first"
        return self.async_threshold(1)

    def async_majority(self) -> Async[Resp]:
        self._call.quorum = "async_majority"
        return self.async_threshold(self.size() // 2 + 1)

    def async_all(self) -> Async[Resp]:
        self._call.quorum = "async_all"
        return self.async_threshold(self.size())

    def async_threshold(self, n: int) -> Async[Resp]:
        if self.size():
            self._check_threshold(n)
        self._call.quorum = self._call.quorum or "async_threshold"
        return self._async(lambda: self._threshold(n))

    def _async(self, compute: Callable[[], Any]) -> Async[Resp]:
        """Send now (preserving call order), aggregate in a manager task."""
        manager = self._client_ctx.config.manager
        if manager is None:
            raise ValueError("cannot call an empty configuration")
        self._use()
        self._call.start()
        fut: Async[Resp] = Async()
        manager.spawn(drive_async, fut, compute)
        return fut

    def correctable(self, threshold: int) -> Correctable[Resp]:
        """A :class:`Correctable` whose level counts successful replies; done at ``threshold``."""
        manager = self._client_ctx.config.manager
        if manager is None:
            raise ValueError("cannot call an empty configuration")
        self._check_threshold(threshold, positive=False)
        self._use()
        self._call.start()
        self._call.quorum = "correctable"
        corr: Correctable[Resp] = Correctable()
        manager.spawn(self._drive_correctable, corr, threshold)
        return corr

    async def _drive_correctable(self, corr: Correctable[Resp], threshold: int) -> None:
        call = self._call
        it: AsyncIterator[NodeResponse[Resp]] = (
            claimed_iter(self._seq) if self._intercepted else call)
        errors: dict[int, BaseException] = {}
        level = LEVEL_NOT_SET
        last: Resp | None = None
        try:
            async for response in it:
                if response.err is not None:
                    errors[response.node_id] = response.err
                    continue
                level = 1 if level == LEVEL_NOT_SET else level + 1
                last = response.value
                done = level >= threshold
                update_correctable(corr, last, level, done)
                if done:
                    return
            failure = IncompleteError(
                errors, _shortfall(max(level, 0), threshold, len(errors), call.expected))
            call.close(failure)
            update_correctable(corr, last, level, True, failure)
        except Exception as exc:
            call.close(exc)
            update_correctable(corr, last, level, True, exc)
        finally:
            call.close()
            if it is not call:
                await aclose_iterator(it)


def _shortfall(successes: int, needed: int, failed: int, expected: int) -> str:
    """The detail of an IncompleteError: what succeeded, failed, and was not
    waited for (a quorum that became impossible ends the call early)."""
    text = f"{successes} of {needed} needed replies; {failed} of {expected} node(s) failed"
    pending = expected - successes - failed
    if pending > 0:
        text += f", {pending} not awaited (the quorum could no longer be reached)"
    return text


def _impossible(call: Any, n: int, successes: int,
                errors: dict[int, BaseException]) -> IncompleteError:
    """The quorum of ``n`` can no longer be reached: count the replies that
    already arrived too, close ``call`` with the error and return it."""
    for response in call.take_queued():
        if response.err is not None:
            errors[response.node_id] = response.err
        else:
            successes += 1
    failure = IncompleteError(errors, _shortfall(successes, n, len(errors), call.expected))
    call.close(failure)
    return failure
