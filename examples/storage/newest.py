"""Newest-of-majority reads: the read a replicated register needs.

``await read_qc(ctx, req).majority()`` returns the *first* successful reply
once a majority answered (as Go's ``Majority`` does) — under delay or after a
missed write, possibly a stale value. A register read must instead look at
the replies of a majority and keep the one with the highest timestamp: any
majority overlaps the majority that acknowledged the last write, so it holds
the newest value. :func:`read_newest` does that::

    reply = await read_newest(sg.read_qc(cfg.context(timeout=2), ReadRequest(key="x")))
"""

from __future__ import annotations

import gorums_h2
from gorums_h2.examples.storage.storage_pb2 import ReadResponse

__all__ = ["newer", "read_newest"]


def newer(a: ReadResponse, b: ReadResponse | None) -> bool:
    """True if ``a`` is newer than ``b``: it has a value and a later timestamp
    (any value is newer than none)."""
    if b is None or not b.OK:
        return a.OK or b is None
    return a.OK and (a.time.seconds, a.time.nanos) > (b.time.seconds, b.time.nanos)


async def read_newest(responses: gorums_h2.Responses[ReadResponse],
                      quorum: int | None = None) -> ReadResponse:
    """The newest of the first ``quorum`` (default: a majority) successful replies.

    Iterates the replies as they arrive and returns once ``quorum`` nodes
    answered successfully. Raises :class:`gorums_h2.IncompleteError` (with
    every failed node's error) when that many can no longer succeed.
    """
    size = responses.size()
    needed = size // 2 + 1 if quorum is None else quorum
    newest: ReadResponse | None = None
    successes = 0
    errors: dict[int, BaseException] = {}
    async for reply in responses:
        if reply.err is not None or reply.value is None:
            errors[reply.node_id] = reply.err or ValueError("empty reply")
            if len(errors) > size - needed:
                break  # a quorum of successes is no longer possible
            continue
        successes += 1
        if newer(reply.value, newest):
            newest = reply.value
        if successes >= needed:
            assert newest is not None
            return newest
    raise gorums_h2.IncompleteError(errors, f"{successes} of {needed} needed replies")
