"""Exceptions leave our context managers as raised, not wrapped in a group.

anyio's task groups (and trio's nurseries) wrap whatever ends them in a
``BaseExceptionGroup``, even a single exception the ``async with`` body
raised itself, so a user's ``except KeyError:`` or ``except
IncompleteError:`` around ``async with Manager() ...`` would never fire.
Every context manager of ours that owns a task group therefore leaves it
through :class:`TaskGroup` (or :func:`reraise_sole`), which unwraps a group
with exactly one leaf exception and re-raises that exception itself — the
body's own exception, or the one background failure that cancelled the body.
Groups with two or more distinct leaves (real multi-errors) stay groups, so
nothing is swallowed; a lone cancellation is unwrapped like anything else,
which is what trio's and asyncio's cancel scopes expect anyway.
"""

from __future__ import annotations

from types import TracebackType

import anyio
import anyio.abc

__all__ = ["TaskGroup", "reraise_sole", "sole_exception"]


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The group's only leaf exception (nested groups flattened), or None if
    it holds several distinct exceptions (or none)."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        elif not any(exc is seen for seen in leaves):
            leaves.append(exc)
            if len(leaves) > 1:
                return None
    return leaves[0] if leaves else None


def reraise_sole(group: BaseExceptionGroup[BaseException]) -> None:
    """Raise the group's sole leaf exception itself; return if there is none.

    The leaf keeps its own ``__cause__``, ``__context__`` and traceback:
    raising it here would otherwise chain the group (or the exception being
    handled) as its context, which reads as a second error in tracebacks.
    """
    sole = sole_exception(group)
    if sole is None:
        return
    context, suppress = sole.__context__, sole.__suppress_context__
    try:
        raise sole
    finally:
        sole.__context__, sole.__suppress_context__ = context, suppress
        del sole, context


class TaskGroup:
    """``anyio.create_task_group()`` whose exit re-raises a lone exception unwrapped.

    ``async with TaskGroup() as tg:`` gives the anyio task group; see the
    module doc for what leaves the block.
    """

    __slots__ = ("_cm",)

    def __init__(self) -> None:
        self._cm = anyio.create_task_group()

    async def __aenter__(self) -> anyio.abc.TaskGroup:
        return await self._cm.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            return await self._cm.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            reraise_sole(group)
            raise
