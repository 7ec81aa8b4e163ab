"""Replies of a call: NodeResponse, ResponseSeq (the reply iterator) and its helpers.

A :class:`ResponseSeq` is a single-use async iterable of
:class:`NodeResponse` values (Go's ``ResponseSeq``), with the helpers
``ignore_errors``, ``filter``, ``collect_n`` and ``collect_all``. The
terminal methods of a quorum call live on :class:`gorums_h2.Responses`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Generic, NamedTuple, TypeVar

__all__ = ["NodeResponse", "ResponseSeq"]

CONSUMED = ("these replies were already consumed: a quorum call's replies can be "
            "iterated, or aggregated by one terminal method, once; make a new call to "
            "ask again")

Resp = TypeVar("Resp")


class NodeResponse(NamedTuple, Generic[Resp]):
    """One node's reply: ``value`` on success, else ``err`` (and value None)."""

    node_id: int
    value: Resp | None
    err: BaseException | None


async def aclose_iterator(it: object) -> None:
    """Close an async iterator if it supports it (async generators do)."""
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


class ResponseSeq(Generic[Resp]):
    """A single-use async iterable of :class:`NodeResponse` (see module doc).

    ``source`` is an async iterable, or a function returning an async
    iterator (as interceptors build them). Iterating it a second time raises
    RuntimeError rather than silently yielding nothing.
    """

    __slots__ = ("_claimed", "_source")

    def __init__(
        self,
        source: AsyncIterable[NodeResponse[Resp]] | Callable[[], AsyncIterator[NodeResponse[Resp]]],
    ) -> None:
        self._source = source
        self._claimed = False

    def _claim(self) -> None:
        """Mark the replies as consumed; RuntimeError if they already were."""
        if self._claimed:
            raise RuntimeError(CONSUMED)
        self._claimed = True

    def __aiter__(self) -> AsyncIterator[NodeResponse[Resp]]:
        self._claim()
        return self._iter()

    def _iter(self) -> AsyncIterator[NodeResponse[Resp]]:
        """The source's iterator, without claiming (the caller claimed)."""
        source = self._source
        if callable(source) and not hasattr(source, "__aiter__"):
            return source()
        return source.__aiter__()

    def ignore_errors(self) -> ResponseSeq[Resp]:
        """Only the successful replies."""
        return self.filter(lambda r: r.err is None)

    def filter(self, keep: Callable[[NodeResponse[Resp]], bool]) -> ResponseSeq[Resp]:
        """Only the replies for which ``keep(reply)`` is true."""

        async def filtered() -> AsyncIterator[NodeResponse[Resp]]:
            it = self.__aiter__()
            try:
                async for r in it:
                    if keep(r):
                        yield r
            finally:
                await aclose_iterator(it)

        return ResponseSeq(filtered)

    async def collect_n(self, n: int) -> dict[int, Resp | None]:
        """Up to ``n`` replies by node ID (errors map to None, Go's zero value);
        returns early once ``n`` are collected or the replies run out."""
        out: dict[int, Resp | None] = {}
        if n <= 0:
            return out
        it = self.__aiter__()
        try:
            async for r in it:
                out[r.node_id] = r.value if r.err is None else None
                if len(out) >= n:
                    break
        finally:
            await aclose_iterator(it)
        return out

    async def collect_all(self) -> dict[int, Resp | None]:
        """Every reply by node ID (errors map to None, Go's zero value)."""
        out: dict[int, Resp | None] = {}
        it = self.__aiter__()
        try:
            async for r in it:
                out[r.node_id] = r.value if r.err is None else None
        finally:
            await aclose_iterator(it)
        return out


# ---- for consumers that claim before iterating (package-internal: quorumcall.Responses) ----


def claim(seq: ResponseSeq[Resp]) -> None:
    """Mark ``seq``'s replies as consumed; RuntimeError (:data:`CONSUMED`) if they were."""
    seq._claim()


def claimed_iter(seq: ResponseSeq[Resp]) -> AsyncIterator[NodeResponse[Resp]]:
    """``seq``'s iterator without claiming (the caller :func:`claim`\\ ed it)."""
    return seq._iter()
