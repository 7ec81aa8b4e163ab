"""Per-connection budgets against abusive peers (sans-IO; the caller passes the time).

A :class:`RateBudget` counts events of one kind (a stream reset by the peer
before it completed, a refused stream, a frame that carries nothing) and says
when a peer has used more than its allowance in a window of time. The
connection then sends GOAWAY ENHANCE_YOUR_CALM and closes: that is what
rapid-reset (CVE-2023-44487) and zero-progress frame floods (CVE-2019-9518)
look like from the server, while a well-behaved client stays far below.

The defaults live in :class:`~gorums_h2.wire.settings.WireSettings`; see
docs/security.md for each one next to grpc-go's.
"""

from __future__ import annotations

__all__ = ["RateBudget"]


class RateBudget:
    """At most ``limit`` events per ``window`` seconds (fixed windows).

    :meth:`spend` records one event at time ``now`` and returns True when the
    budget is exceeded. The window restarts at the first event after it
    elapsed, so a peer gets at most ``2 * limit`` events in any ``window``
    seconds (across a boundary) before being refused; that slack is cheap
    and keeps this O(1) with two integers of state.
    """

    __slots__ = ("count", "limit", "start", "window")

    def __init__(self, limit: int, window: float) -> None:
        if limit < 0 or window <= 0:
            raise ValueError("a budget needs limit >= 0 and window > 0")
        self.limit = limit
        self.window = window
        self.count = 0
        self.start = 0.0

    def spend(self, now: float) -> bool:
        """Count one event at ``now``; True if more than ``limit`` fell in the window."""
        if self.count == 0 or now - self.start >= self.window:
            self.start = now
            self.count = 0
        self.count += 1
        return self.count > self.limit
