"""Make a gorums_h2 process talk like grpc-go: per received message, a
connection WINDOW_UPDATE of its size and a BDP PING (when none is
outstanding), sent with its next write (the reply, or the next request),
as in ``../shared/interop`` "Control frames at steady state" (a Go server's
reply arrives as WINDOW_UPDATE, PING, DATA in one read).

:class:`GoLikeCore` is a :class:`~gorums_h2.wire.protocol.ConnectionCore`
that does so; :func:`install` makes the wire's client and server create it
for the whole process (bench processes only: a Go-like benchmark server, or a
Go-like client of ours), so the same benchmark server and client measure the
cost of these frames on the other side, with nothing else changed.
"""

from __future__ import annotations

from typing import Any

from gorums_h2.wire.protocol import ConnectionCore

__all__ = ["BDP_PING", "GoLikeCore", "install"]

BDP_PING = bytes.fromhex("02041010090e0707")  # grpc-go's BDP PING opaque data
_WINDOW_UPDATE_HEADER = bytes.fromhex("000004080000000000")  # length 4, stream 0
_PING_HEADER = bytes.fromhex("000008060000000000")  # length 8, no flags, stream 0


class GoLikeCore(ConnectionCore):
    """A ConnectionCore that sends grpc-go's per-message control frames.

    (A subclass with slots of its own: ConnectionCore has ``__slots__``, so
    the state cannot be patched onto its instances.)"""

    __slots__ = ("_bdp_outstanding", "_go_credit", "_go_ping")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._go_credit = 0
        self._bdp_outstanding = self._go_ping = False
        # (the handler table holds self._on_data etc.: these overrides)

    def _on_data(self, event: Any) -> None:
        # grpc-go returns connection credit on receipt, and starts a BDP
        # PING unless one is outstanding; both leave with its next write
        self._go_credit += event.flow_controlled_length
        if not self._bdp_outstanding:
            self._bdp_outstanding = self._go_ping = True
        super()._on_data(event)

    def flush(self) -> None:
        # before the data of this write, as in grpc-go's frames (WINDOW_UPDATE,
        # PING, DATA). The frames are queued as bytes, with the effect of h2's
        # increment_flow_control_window and ping (the window opened; a PING
        # changes no state): h2's frame objects would cost this peer ~30 us
        # per message, and a slower peer changes the other side's timing
        # (more idle wake-ups per call), which grpc-go's frames do not
        h2c = self.h2
        credit = self._go_credit
        if credit:
            self._go_credit = 0
            h2c._inbound_flow_control_window_manager.window_opened(credit)
            h2c._data_to_send += _WINDOW_UPDATE_HEADER + credit.to_bytes(4, "big")
        if self._go_ping:
            self._go_ping = False
            h2c._data_to_send += _PING_HEADER + BDP_PING
        super().flush()

    def _on_ping_ack(self, event: Any) -> None:
        if bytes(event.ping_data or b"") == BDP_PING:
            self._bdp_outstanding = False
        super()._on_ping_ack(event)


def install() -> None:
    """Make the wire's client and server connections Go-like, for the whole
    process (idempotent)."""
    from gorums_h2.wire import client, server

    client.ConnectionCore = GoLikeCore  # type: ignore[attr-defined]
    server.ConnectionCore = GoLikeCore  # type: ignore[attr-defined]
