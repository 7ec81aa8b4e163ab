"""Dead-peer detection for a client connection, within grpc-go's PING budget.

A connection whose peer vanished (a black-holed link, a frozen host) looks
healthy to TCP until something is written and not acknowledged, and may
never fail on its own. A PING answers the question, but only when it
matters, and grpc-go servers punish careless PINGs: their keepalive
``EnforcementPolicy`` (default ``MinTime`` 5 minutes) counts a PING as a
strike when it comes less than ``MinTime`` after the previous one, unless the
server has sent DATA or HEADERS since (which resets the strikes and the
timer); more than two strikes draw GOAWAY ENHANCE_YOUR_CALM
``too_many_pings``.

:class:`LivenessProbe` (sans-IO, fed the time and the connection's state by
the channel) therefore PINGs only when

* the connection is *busy* — replies outstanding, or written data not drained
  — and has received nothing for ``after`` seconds, and
* the PING cannot be a strike — the server sent a reply since the previous
  PING was acknowledged, or at least ``min_interval`` seconds passed since it
  (grpc-go's ``MinTime`` plus a margin) — or it is the first possible strike
  since grpc-go last reset its count (``strike_budget``, default 1, of the
  two that grpc-go forgives). That one spare PING closes the gap a peer
  that goes silent right after answering a PING would otherwise open: it is
  probed again after ``after`` seconds, not after ``min_interval``.

A strike only counts until the server next sends DATA or HEADERS, so a slow
but live server draws at most ``strike_budget`` strikes between two replies,
never the third that grpc-go punishes.

The driver (:meth:`NodeChannel <gorums_h2.channel.NodeChannel>`) breaks the
connection when the ACK does not arrive within ``timeout`` seconds. A peer
that stays silent while PINGs are not allowed is left to TCP's own timers
(``TCP_USER_TIMEOUT``, keepalive; see :mod:`gorums_h2.wire._io`).
"""

from __future__ import annotations

__all__ = ["GRPC_GO_MIN_PING_INTERVAL", "LivenessProbe"]

GRPC_GO_MIN_PING_INTERVAL = 300.0
"""grpc-go's default ``keepalive.EnforcementPolicy.MinTime`` (seconds)."""


class LivenessProbe:
    """When to PING a peer that may be gone (see module doc). Times are seconds
    on one monotonic clock; ``received`` counts the replies received so far."""

    __slots__ = ("_acked_received", "_busy_since", "_last_ping", "_strikes", "after",
                 "min_interval", "strike_budget", "timeout")

    def __init__(self, after: float, timeout: float, min_interval: float,
                 strike_budget: int = 1) -> None:
        if after <= 0 or timeout <= 0:
            raise ValueError("the probe delays must be positive")
        if not 0 <= strike_budget <= 2:
            raise ValueError("strike_budget must be 0, 1 or 2 (grpc-go forgives two strikes)")
        self.after = after
        self.timeout = timeout
        self.min_interval = min_interval
        self.strike_budget = strike_budget
        self._busy_since: float | None = None
        self._last_ping: float | None = None
        self._acked_received = 0
        self._strikes = 0  # PINGs grpc-go counted as strikes since it last reset them

    def busy_for(self, now: float) -> float:
        """Seconds the connection has been busy (0 when it is not)."""
        return 0.0 if self._busy_since is None else now - self._busy_since

    def should_ping(self, now: float, busy: bool, last_read: float, received: int) -> bool:
        """True if a PING should go out now.

        ``busy``: replies outstanding or writes not drained; ``last_read``:
        when anything was last received from the peer.
        """
        if not busy:
            self._busy_since = None
            return False
        if self._busy_since is None:
            self._busy_since = now
        after = self.after
        if now - self._busy_since < after or now - last_read < after:
            return False
        return self.allowed(now, received)

    def allowed(self, now: float, received: int) -> bool:
        """True if a PING now keeps grpc-go's strike count within the budget."""
        return self._strikes < self.strike_budget or self._strike(now, received) != 1

    def _strike(self, now: float, received: int) -> int | None:
        """What a PING now does to grpc-go's strike count: ``None`` resets it
        (a reply came after the last ACK), 0 leaves it, 1 adds a strike."""
        last = self._last_ping
        if last is not None and received > self._acked_received:
            return None
        return 0 if last is None or now - last >= self.min_interval else 1

    @property
    def strikes(self) -> int:
        """Strikes grpc-go has counted (at most) since it last reset them."""
        return self._strikes

    def ping_sent(self, now: float, received: int) -> None:
        strike = self._strike(now, received)
        self._strikes = 0 if strike is None else self._strikes + strike
        self._last_ping = now

    def ping_acked(self, now: float, received: int) -> None:
        """The ACK came: the peer is alive. Only replies received after this
        moment let the next PING come sooner than ``min_interval``."""
        self._acked_received = received
        if self._busy_since is not None:
            self._busy_since = now
