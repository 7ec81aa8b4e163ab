"""Server connection lifecycle: handshake timeout, keepalive, idle and age limits.

A server must drop connections that will never do anything useful: a client
that connects and sends one byte (slowloris), one that trickles the preface,
one that vanished without a FIN (its host died, its network namespace was
deleted), one that stays connected for ever. :class:`ServerLimits` says how
long each may last; :class:`ConnectionTimers` is the sans-IO decision ("what
is due, and when is the next check"), :func:`supervise` the small task that
acts on it for one connection (the kernel's own dead-peer detection on
accepted sockets is :func:`gorums_h2.wire._io.set_tcp_timeouts`, shared with
the client).

The model is grpc-go's server ``keepalive.ServerParameters``:

* ``keepalive_time``: after that many seconds without *anything* received,
  send a PING; ``keepalive_timeout``: if nothing at all (ACK or any other
  frame) is received within that many seconds after it, close the
  connection (no GOAWAY: the peer is presumed gone).
* ``max_connection_idle``: a connection without open streams for that long
  gets a graceful GOAWAY (debug data ``max_idle``) and is closed.
* ``max_connection_age`` (with +-10 % jitter, as grpc-go, so connections
  made together do not all reconnect together): a graceful GOAWAY (debug
  data ``max_age``); open streams may finish for
  ``max_connection_age_grace`` seconds (None: as long as they like), then
  the connection is closed.

Our defaults differ from grpc-go's where grpc-go's leave a dead connection
open for hours: see :class:`ServerLimits`.
"""

from __future__ import annotations

import enum
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from h2.errors import ErrorCodes

from gorums_h2.wire.errors import ConnectionBroken, ConnectionClosed
from gorums_h2.wire.status import StatusError

if TYPE_CHECKING:
    from gorums_h2.wire.server import ServerConnection

__all__ = ["Action", "ConnectionTimers", "ServerLimits", "log_rarely", "supervise"]

RARE_LOG_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """How long a server keeps a client connection, and how many (keyword-only).

    ====================================  ===========  =====================================
    field                                 default      grpc-go server default
    ====================================  ===========  =====================================
    ``handshake_timeout``                 5 s          120 s (``ConnectionTimeout``)
    ``keepalive_time``                    30 s         2 h (``ServerParameters.Time``)
    ``keepalive_timeout``                 20 s         20 s (``ServerParameters.Timeout``)
    ``max_connection_idle``               None (off)   infinity
    ``max_connection_age``                None (off)   infinity
    ``max_connection_age_grace``          None (off)   infinity
    ``max_connections``                   None (off)   none (``netutil.LimitListener``)
    ``tcp_keepalive``                     15 s         15 s (Go's ``net.ListenConfig``)
    ====================================  ===========  =====================================

    * ``handshake_timeout``: the client preface and its first SETTINGS frame
      (after the TLS handshake, which has the same budget) must arrive within
      this many seconds, or the connection is closed. None: no limit.
    * ``keepalive_time`` / ``keepalive_timeout``: see the module docstring.
      With the defaults a vanished client's connection is closed 50 s after
      it last sent something (grpc-go: 2 h 20 s); a PING every 30 s of
      silence costs 17 bytes each way. None: no PINGs.
    * ``max_connection_idle`` / ``max_connection_age`` /
      ``max_connection_age_grace``: see the module docstring. A Gorums
      client keeps its NodeStream open, so its connection is never idle;
      an age limit without a grace leaves such a connection open after the
      GOAWAY until the client reconnects on its own.
    * ``max_connections``: connections beyond this many (counting those
      still in their handshake) are accepted, sent SETTINGS and a GOAWAY
      ENHANCE_YOUR_CALM ``too many connections``, and closed, so a client
      learns why at once instead of waiting in the listen backlog. None:
      no limit (the process's file-descriptor limit applies).
    * ``tcp_keepalive``: SO_KEEPALIVE on accepted sockets, with this many
      seconds of idle time and probe interval (3 probes, as on the client);
      where the platform has it, TCP_USER_TIMEOUT is set to
      ``keepalive_timeout`` (as grpc-go does) so unacknowledged writes to a
      vanished client fail too. None: leave the sockets as they are.
    """

    handshake_timeout: float | None = 5.0
    keepalive_time: float | None = 30.0
    keepalive_timeout: float = 20.0
    max_connection_idle: float | None = None
    max_connection_age: float | None = None
    max_connection_age_grace: float | None = None
    max_connections: int | None = None
    tcp_keepalive: float | None = 15.0

    def __post_init__(self) -> None:
        for name in ("handshake_timeout", "keepalive_time", "max_connection_idle",
                     "max_connection_age", "tcp_keepalive"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, not {value!r}")
        if not self.keepalive_timeout > 0:
            raise ValueError("keepalive_timeout must be positive")
        grace = self.max_connection_age_grace
        if grace is not None and grace < 0:
            raise ValueError("max_connection_age_grace must not be negative")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("max_connections must be at least 1 or None")


class Action(enum.Enum):
    """What :meth:`ConnectionTimers.poll` says is due."""

    HANDSHAKE_TIMEOUT = "close: handshake not completed in time"
    PING = "send a keepalive PING"
    PING_TIMEOUT = "close: nothing received after a keepalive PING"
    IDLE = "GOAWAY max_idle, then close"
    AGE = "GOAWAY max_age, then wait for the streams (grace)"
    AGE_GRACE_OVER = "close: max_connection_age_grace over"


class ConnectionTimers:
    """Which lifecycle limit of one connection is due (sans-IO, no clock of its own).

    :meth:`poll` is given the current time and what the connection did;
    it returns the action due now (the caller must perform it: the timers
    assume it was) or None, plus the time of the next check. ``jitter`` (a
    factor, e.g. 0.95) spreads ``max_connection_age``.
    """

    __slots__ = ("_age_at", "_grace_at", "_handshake_at", "_idle_since", "_ping_sent",
                 "limits", "started")

    def __init__(self, limits: ServerLimits, started: float, jitter: float = 1.0) -> None:
        self.limits = limits
        self.started = started
        self._handshake_at = (None if limits.handshake_timeout is None
                              else started + limits.handshake_timeout)
        self._age_at = (None if limits.max_connection_age is None
                        else started + limits.max_connection_age * jitter)
        self._grace_at: float | None = None
        self._ping_sent: float | None = None
        self._idle_since: float | None = started

    def poll(self, now: float, *, last_read: float, handshaken: bool,
             open_streams: int) -> tuple[Action | None, float]:
        """Return (the action due at ``now`` or None, when to poll next).

        ``last_read``: when bytes last arrived (0: never); ``handshaken``:
        the preface and first SETTINGS arrived; ``open_streams``: streams
        not yet closed.
        """
        lim = self.limits
        last = max(last_read, self.started)
        due: list[float] = []
        if not handshaken:
            if self._handshake_at is not None:
                if now >= self._handshake_at:
                    return Action.HANDSHAKE_TIMEOUT, now
                due.append(self._handshake_at)
        else:
            self._handshake_at = None
        if self._grace_at is not None:
            if now >= self._grace_at or open_streams == 0:
                return Action.AGE_GRACE_OVER, now
            due.append(self._grace_at)
        elif self._age_at is not None:
            if now >= self._age_at:
                self._age_at = None
                grace = lim.max_connection_age_grace
                self._grace_at = float("inf") if grace is None else now + grace
                return Action.AGE, now
            due.append(self._age_at)
        if lim.max_connection_idle is not None and self._grace_at is None:
            if open_streams:
                self._idle_since = None
                due.append(now + lim.max_connection_idle)
            else:
                if self._idle_since is None:
                    self._idle_since = now
                idle_at = self._idle_since + lim.max_connection_idle
                if now >= idle_at:
                    return Action.IDLE, now
                due.append(idle_at)
        if lim.keepalive_time is not None:
            sent = self._ping_sent
            if sent is not None and last >= sent:
                sent = self._ping_sent = None  # something arrived: the peer is alive
            if sent is not None:
                timeout_at = sent + lim.keepalive_timeout
                if now >= timeout_at:
                    return Action.PING_TIMEOUT, now
                due.append(timeout_at)
            else:
                ping_at = last + lim.keepalive_time
                if now >= ping_at:
                    self._ping_sent = now
                    return Action.PING, now + lim.keepalive_timeout
                due.append(ping_at)
        return None, min(due, default=float("inf"))


async def supervise(conn: ServerConnection, limits: ServerLimits, rng: random.Random) -> None:
    """Enforce ``limits`` on ``conn`` until it closes (run in its task group);
    the age jitter comes from ``rng`` (the server's, seedable)."""
    timers = ConnectionTimers(limits, anyio.current_time(), rng.uniform(0.9, 1.1))
    pings = 0  # PING payloads: a count, unique per connection and reproducible
    core = conn.core
    while core.error is None:
        now = anyio.current_time()
        action, at = timers.poll(now, last_read=conn.io.last_read, handshaken=conn.handshaken,
                                 open_streams=len(core.streams))
        if action is None:
            await _sleep_until(conn, at)
        elif action is Action.PING:
            pings += 1
            core.ping(pings.to_bytes(8, "big"))
        elif action is Action.AGE:
            core.send_goaway(ErrorCodes.NO_ERROR, b"max_age")
        else:
            await _close(conn, action, limits)
            return


async def _sleep_until(conn: ServerConnection, deadline: float) -> None:
    # Wake early when the handshake completes or a stream closes, so the
    # handshake deadline and the age grace do not keep the task sleeping.
    with anyio.move_on_after(max(deadline - anyio.current_time(), 0.0)):
        await conn.lifecycle_signal.wait()


async def _close(conn: ServerConnection, action: Action, limits: ServerLimits) -> None:
    core = conn.core
    exc: StatusError
    if action is Action.HANDSHAKE_TIMEOUT:
        exc = ConnectionBroken(f"handshake not completed within {limits.handshake_timeout:g}s")
    elif action is Action.PING_TIMEOUT:
        exc = ConnectionBroken(
            f"keepalive PING not answered within {limits.keepalive_timeout:g}s")
    elif action is Action.IDLE:
        core.send_goaway(ErrorCodes.NO_ERROR, b"max_idle")
        exc = ConnectionClosed(f"idle for {limits.max_connection_idle:g}s")
    else:
        exc = ConnectionClosed("max_connection_age_grace is over")
    conn.server.log.debug("closing connection from %s: %s", conn.peer, exc.message)
    conn.closed_by_limit = action
    core.fail(exc)  # the writer sends what is queued (a GOAWAY), then stops
    await conn.io.close()  # ends the reader too, so run() returns


def log_rarely(log: logging.Logger, last: dict[str, float], kind: str, msg: str,
               *args: Any) -> None:
    """Log at INFO at most once per :data:`RARE_LOG_INTERVAL` seconds per
    ``kind`` (``last`` remembers when), else at DEBUG: for events a peer can
    repeat at will (refused connections), which must not flood the log."""
    now = anyio.current_time()
    if now - last.get(kind, -RARE_LOG_INTERVAL) >= RARE_LOG_INTERVAL:
        last[kind] = now
        log.info(msg + " (more such within 10 s: DEBUG)", *args)
    else:
        log.debug(msg, *args)
