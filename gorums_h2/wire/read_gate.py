"""When a server connection stops reading, and when it gives up on a peer (sans-IO).

:class:`ReadGate` is the part of :class:`~.protocol.ConnectionCore` that
defends a server against a peer that sends faster than it takes our
answers, or sends what makes us work for nothing:

* **Bounded work per read**: :meth:`ReadGate.receive_step` processes at
  most :data:`STEP_FRAMES` frames of a read; the driver yields (and checks
  read pausing) before the rest, so one read of tiny frames cannot hold the
  event loop for long (both sides).
* **Abuse budgets** (:mod:`.limits`): frames that carry nothing and streams
  reset or refused are counted per time window; past a budget the core
  sends GOAWAY ENHANCE_YOUR_CALM (:meth:`ReadGate.calm_down`) and fails.
* **Window starvation**: replies waiting for the peer's flow-control
  windows beyond ``max_window_backlog`` stop the handlers' supply: DATA is
  parked undecoded and unacknowledged (so the peer runs out of window while
  its WINDOW_UPDATE, PING, SETTINGS and RST_STREAM frames are still
  processed), and decoded once the windows open; still starved after
  ``window_starve_timeout``: GOAWAY ENHANCE_YOUR_CALM.
* **Read pausing**: :attr:`ReadGate.inbound_full` and
  :meth:`ReadGate.reading_paused` tell the I/O strategy to stop reading the
  socket while received messages wait for the handlers beyond a budget, or
  while the transport takes no writes and too many control replies or bytes
  are queued for the peer. Output that waits for the peer's flow-control
  window never pauses reading: the WINDOW_UPDATE has to get in.

Everything here is bookkeeping on counters the core keeps; the per-message
paths (``StreamCore.pop_message``) read the same attributes inline. A client
never pauses reading (two peers that both stop reading while their writes
block would wait for each other forever).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import h2.exceptions
from h2.errors import ErrorCodes
from h2.events import DataReceived

from gorums_h2.wire._h2 import FastData
from gorums_h2.wire.errors import ConnectionBroken
from gorums_h2.wire.limits import RateBudget
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.status import StatusError

if TYPE_CHECKING:
    from gorums_h2.wire._h2 import GuardedH2Connection
    from gorums_h2.wire.stream_core import StreamCore

__all__ = ["STEP_FRAMES", "ReadGate"]

STEP_FRAMES = 200  # frames processed per receive_step (0.5-10 ms of work)
_STEP_BYTES = 9 * STEP_FRAMES  # data shorter than this cannot hold more frames


def _noop() -> None:
    pass


class ReadGate:
    """Abuse budgets and read-pausing state of one connection (a mixin of
    :class:`~.protocol.ConnectionCore`, which provides the attributes
    declared here)."""

    # slots: a ConnectionCore has ~40 attributes, beyond the 30 up to which
    # CPython 3.11 shares instance-dict keys (past that every attribute read
    # on the per-message paths costs a dict lookup: +5 % a round trip)
    __slots__ = (
        "_continuing",
        "_control_queued",
        "_control_unwritten",
        "_empty_frames",
        "_inbound_limit",
        "_inbound_waiting",
        "_parked_streams",
        "_parking",
        "_resets",
        "_starve_timeout",
        "_starved_since",
        "_stepping",
        "_window_backlog_limit",
        "_window_blocked",
        "goaway_sent",
        "inbound_bytes",
        "on_inbound_drained",
        "rejected_peer",
        "window_starved",
    )

    # provided by ConnectionCore
    client_side: bool
    settings: WireSettings
    h2: GuardedH2Connection
    streams: dict[int, StreamCore]
    error: StatusError | None
    _clock: Callable[[], float]
    _handlers: dict[type, Callable[[Any], None]]
    on_output: Callable[[], None]

    def fail(self, exc: StatusError) -> None:
        raise NotImplementedError

    def _on_data(self, event: DataReceived | FastData) -> None:
        raise NotImplementedError

    def receive_data(self, data: bytes) -> None:
        raise NotImplementedError

    def _init_read_gate(self, s: WireSettings, client_side: bool) -> None:
        self._resets = RateBudget(s.max_stream_resets, s.abuse_window)
        self._empty_frames = RateBudget(s.max_empty_frames, s.abuse_window)
        # control replies (PING/SETTINGS ACKs) queued in h2 / handed to the
        # transport; the fast path's PING ACKs are h2's ping_acks_queued
        self._control_queued = 0
        self._control_unwritten = 0
        # bytes of received messages queued in streams, not yet read
        self.inbound_bytes = 0
        self.on_inbound_drained: Callable[[], None] = _noop
        # read pausing is a server defence: a client never stops reading
        # (two peers that both stop reading while their writes block would
        # wait for each other forever)
        self._inbound_limit = 1 << 62 if client_side else s.max_inbound_backlog
        self._inbound_waiting = False  # the driver saw inbound_full: wake it below the limit
        self._window_blocked = False  # the last flush left output waiting for a window
        # replies waiting for the peer's windows (window starvation); None: off (client)
        self._window_backlog_limit = None if client_side else s.max_window_backlog
        self._starve_timeout = s.window_starve_timeout
        self.window_starved = False
        self._starved_since = 0.0
        self._parked_streams = 0  # streams holding received bytes undecoded
        self._parking = False  # DATA goes to _on_data_parking
        # receive_step left part of a read for later / this call is such a part
        self._stepping = self._continuing = False

    # ---- bounded work per read ----

    @property
    def stepping(self) -> bool:
        """True while part of the current read waits for its next
        :meth:`receive_step` (a handler opened by it waits for the rest)."""
        return self._stepping

    def receive_step(self, data: bytes) -> bytes:
        """:meth:`receive_data` for at most :data:`STEP_FRAMES` of the frames
        in ``data``; returns the bytes not processed yet (empty when none).
        A driver yields to other tasks before it passes them again, and
        checks whether it should pause reading first: they count as not yet
        read (but as the same read for the per-read stream rule). So one
        read of 256 KiB of tiny frames (15,000 PINGs, 26,000 one-byte DATA
        frames) cannot hold the event loop for long."""
        continuing, self._stepping = self._stepping, False
        if len(data) > _STEP_BYTES and self.error is None:
            cut = self.h2.frame_cut(data, STEP_FRAMES)
            if cut < len(data):
                self._continuing = continuing
                self.receive_data(data[:cut])
                if self.error is not None:
                    return b""
                self._stepping = True
                return data[cut:]
        self._continuing = continuing
        self.receive_data(data)
        return b""

    # ---- abuse budgets ----

    def _on_empty_frame(self) -> None:
        # called by h2 while it parses (see GuardedH2Connection): raising
        # stops the flood there, and h2 answers GOAWAY ENHANCE_YOUR_CALM
        if self._empty_frames.spend(self._clock()):
            raise h2.exceptions.DenialOfServiceError("too many frames without payload")

    def _spend_reset(self, reason: str) -> None:
        """Count one stream reset by the peer or refused by us; past the
        budget, :meth:`calm_down`."""
        if self._resets.spend(self._clock()):
            self.calm_down(reason)

    def _on_control_reply(self, event: Any) -> None:
        self._control_queued += 1  # h2 queued the ACK

    def calm_down(self, reason: str) -> None:
        """Close the connection because the peer abuses it: GOAWAY
        ENHANCE_YOUR_CALM with ``reason``, then fail every stream."""
        if self.error is not None:
            return
        self.goaway_sent = self.rejected_peer = True
        self.h2.close_connection(error_code=ErrorCodes.ENHANCE_YOUR_CALM,
                                 additional_data=reason.encode())
        self.fail(ConnectionBroken(f"closed: peer sent {reason} (ENHANCE_YOUR_CALM)"))
        self.on_output()

    # ---- window starvation ----

    def _check_window_backlog(self, blocked: Iterable[StreamCore]) -> None:
        """After a flush (server side): the ``blocked`` streams' output waits
        for the peer's windows. Above ``max_window_backlog`` the connection is
        starved: new DATA is parked undecoded (no new messages for the
        handlers, no credit back) until the windows open again. Starved for
        longer than ``window_starve_timeout``: :meth:`calm_down`."""
        limit = self._window_backlog_limit
        if limit is None:
            return
        backlog = 0
        for stream in blocked:
            # a queued piece costs about 64 bytes beyond its payload (the
            # bytes object and its deque slot): tiny replies count as such
            backlog += stream.queued - stream.moved + 64 * len(stream._out)
        if backlog > limit:
            if not self.window_starved:
                self.window_starved = True
                self._starved_since = self._clock()
                if not self._parking:
                    self._start_parking()
            else:
                self._check_starve_timeout()
        elif self.window_starved:
            self.window_starved = False
            for stream in list(self.streams.values()):
                if stream._parked is not None and not stream._inbound:
                    stream._unpark()
            if not self._parked_streams and self._parking:
                self._stop_parking()

    def _check_starve_timeout(self) -> None:
        timeout = self._starve_timeout
        if timeout is not None and self._clock() - self._starved_since > timeout:
            self.calm_down("no flow-control window for our replies")

    def _parking_wanted(self) -> bool:
        """Park new DATA: starved, or messages pile up unread beyond
        ``max_inbound_backlog`` while our output waits for a window (reading
        cannot pause then: the WINDOW_UPDATE must get in)."""
        return self.window_starved or (
            self._window_blocked and self.inbound_bytes > self._inbound_limit)

    def _after_read(self) -> None:
        """Once per read (server side): start parking if it is wanted."""
        if not self._parking and self._parking_wanted():
            self._start_parking()

    def _start_parking(self) -> None:
        self._parking = True
        handlers = self._handlers
        handlers[FastData] = handlers[DataReceived] = self._on_data_parking

    def _stop_parking(self) -> None:
        self._parking = False
        handlers = self._handlers
        handlers[FastData] = handlers[DataReceived] = self._on_data

    def _on_data_parking(self, event: DataReceived | FastData) -> None:
        """DATA while parking is wanted, or for a stream that still holds
        parked bytes: kept undecoded and unacknowledged (the per-message
        path, ``_on_data``, is swapped back once nothing is parked)."""
        stream = self.streams.get(event.stream_id)
        if stream is None or (stream._parked is None and not self._parking_wanted()):
            self._on_data(event)
            if not self._parked_streams:
                self._stop_parking()
            return
        stream._park(event.data, event.flow_controlled_length)
        if self.window_starved:
            self._check_starve_timeout()
        elif not stream._inbound:
            stream._unpark()  # its reader waits: one chunk now, the rest as it reads

    def _unparked(self) -> None:
        """A stream's parked bytes are all decoded (or dropped)."""
        self._parked_streams -= 1
        if not self._parked_streams and not self._parking_wanted():
            self._stop_parking()

    # ---- read pausing ----

    @property
    def inbound_full(self) -> bool:
        """True while more than ``max_inbound_backlog`` bytes of received
        messages wait to be read and none of our output waits for the peer's
        flow-control window: the driver stops reading the socket until
        :attr:`on_inbound_drained` is called (the windows we grant may be far
        larger than what we want to hold in memory per connection). Output
        that waits for a window keeps reading on, for the WINDOW_UPDATE: a
        handler that sends before it reads on must not deadlock. Always
        False on the client side."""
        full = self.inbound_bytes > self._inbound_limit and not self._window_blocked
        if full:
            self._inbound_waiting = True
        return full

    def _inbound_consumed(self, size: int) -> None:
        self.inbound_bytes -= size
        if self._inbound_waiting and self.inbound_bytes <= self._inbound_limit:
            self._inbound_waiting = False
            self.on_inbound_drained()

    @property
    def control_backlog(self) -> int:
        """PING and SETTINGS ACKs queued or handed to the transport and not
        yet written (h2's, counted by the event handlers, and the fast
        path's PING ACKs, counted by h2 itself: no event per PING)."""
        return self._control_queued + self.h2.ping_acks_queued + self._control_unwritten

    def reading_paused(self) -> bool:
        """True when the driver should stop reading because the peer does not
        take our replies: call it only while the transport is not accepting
        writes (bytes that wait for the peer's flow-control window must not
        stop reading, or its WINDOW_UPDATE would never get in). Always
        False on the client side."""
        if self.client_side:
            return False
        s = self.settings
        if self.control_backlog > s.max_control_backlog:
            return True
        backlog = self.h2.output_size
        for stream in self.streams.values():
            backlog += stream.queued - stream.moved
        return backlog > s.max_output_backlog
