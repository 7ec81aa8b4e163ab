"""Async (a future) and Correctable (a value that improves as replies arrive).

Both are filled by a task in the manager's task group; the request was sent
when they were created, so several of them preserve their calls' order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

import anyio

from gorums_h2.wire.errors import ConnectionClosed, reraisable

__all__ = ["LEVEL_NOT_SET", "Async", "Correctable"]

Resp = TypeVar("Resp")

LEVEL_NOT_SET = -1
"""The level of a correctable that has no reply yet (Go's LevelNotSet)."""


class Async(Generic[Resp]):
    """The future result of a quorum call (Go's ``Async``).

    ``await fut`` (or ``await fut.result()``) returns the reply or raises the
    call's error; :meth:`done` tells whether it is decided.
    """

    __slots__ = ("_error", "_event", "_value")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._value: Resp | None = None
        self._error: BaseException | None = None

    def done(self) -> bool:
        return self._event.is_set()

    async def result(self) -> Resp:
        await self._event.wait()
        if self._error is not None:
            raise reraisable(self._error)
        return self._value  # type: ignore[return-value]

    def __await__(self) -> Generator[Any, None, Resp]:
        return self.result().__await__()

    def _resolve(self, value: Resp | None, error: BaseException | None) -> None:
        if not self._event.is_set():
            self._value, self._error = value, error
            self._event.set()

    async def _drive(self, compute: Callable[[], Awaitable[Resp]]) -> None:
        try:
            value = await compute()
        except Exception as exc:
            self._resolve(None, exc)
        except BaseException:
            self._resolve(None, ConnectionClosed("manager closed before the call completed"))
            raise
        else:
            self._resolve(value, None)


class Correctable(Generic[Resp]):
    """A reply that gets better as more nodes answer (Go's ``Correctable``).

    The level is the number of successful replies so far (``LEVEL_NOT_SET``
    before the first); the value is the latest successful reply. It is done
    when the level reaches the threshold, or with an IncompleteError when the
    replies run out first.
    """

    __slots__ = ("_done", "_error", "_level", "_value", "_watchers")

    def __init__(self) -> None:
        self._value: Resp | None = None
        self._level = LEVEL_NOT_SET
        self._error: BaseException | None = None
        self._done = anyio.Event()
        self._watchers: list[tuple[int, anyio.Event]] = []

    def get(self) -> tuple[Resp | None, int, BaseException | None]:
        """The latest reply, its level, and the error (if it ended with one)."""
        return self._value, self._level, self._error

    @property
    def level(self) -> int:
        return self._level

    def done(self) -> bool:
        return self._done.is_set()

    async def wait(self) -> None:
        """Wait until the correctable is done."""
        await self._done.wait()

    async def watch(self, level: int) -> None:
        """Wait until ``level`` is reached (or the correctable is done)."""
        if self._level >= level or self._done.is_set():
            return
        event = anyio.Event()
        self._watchers.append((level, event))
        await event.wait()

    def _update(self, value: Resp | None, level: int, done: bool,
                error: BaseException | None = None) -> None:
        if self._done.is_set():
            return
        self._value, self._level, self._error = value, level, error
        keep = []
        for wanted, event in self._watchers:
            if level >= wanted or done:
                event.set()
            else:
                keep.append((wanted, event))
        self._watchers = keep
        if done:
            self._done.set()


# ---- the producer's side (package-internal: quorumcall.Responses fills them) ----


async def drive_async(fut: Async[Resp], compute: Callable[[], Awaitable[Resp]]) -> None:
    """Decide ``fut`` with ``compute()``'s result or error (a cancellation, the
    manager closing, decides it with ConnectionClosed and propagates)."""
    await fut._drive(compute)


def update_correctable(corr: Correctable[Resp], value: Resp | None, level: int, done: bool,
                       error: BaseException | None = None) -> None:
    """A new reply (or the end, ``done``) for ``corr``: wakes the watchers of
    ``level`` and below (all of them when done); a no-op once it is done."""
    corr._update(value, level, done, error)
