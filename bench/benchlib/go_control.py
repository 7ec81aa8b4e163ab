"""Make a gorums_h2 process talk like grpc-go: per received message, a
connection WINDOW_UPDATE of its size and a BDP PING (when none is
outstanding), sent with its next write (the reply, or the next request),
as in ``../shared/interop`` "Control frames at steady state" (a Go server's
reply arrives as WINDOW_UPDATE, PING, DATA in one read).

:func:`install` patches :class:`~gorums_h2.wire.protocol.ConnectionCore` for
the whole process (bench processes only: a Go-like benchmark server, or a
Go-like client of ours), so the same benchmark server and client measure the
cost of these frames on the other side, with nothing else changed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BDP_PING", "install"]

BDP_PING = bytes.fromhex("02041010090e0707")  # grpc-go's BDP PING opaque data
_WINDOW_UPDATE_HEADER = bytes.fromhex("000004080000000000")  # length 4, stream 0
_PING_HEADER = bytes.fromhex("000008060000000000")  # length 8, no flags, stream 0


def install() -> None:
    """Patch every ConnectionCore created from now on (idempotent)."""
    from gorums_h2.wire.protocol import ConnectionCore

    if getattr(ConnectionCore, "_go_control", False):
        return
    on_data = ConnectionCore._on_data
    on_ping_ack = ConnectionCore._on_ping_ack
    flush = ConnectionCore.flush

    def _on_data(self: Any, event: Any) -> None:
        # grpc-go returns connection credit on receipt, and starts a BDP
        # PING unless one is outstanding; both leave with its next write
        self._go_credit = getattr(self, "_go_credit", 0) + event.flow_controlled_length
        if not getattr(self, "_bdp_outstanding", False):
            self._bdp_outstanding = self._go_ping = True
        on_data(self, event)

    def _flush(self: Any) -> None:
        # before the data of this write, as in grpc-go's frames (WINDOW_UPDATE,
        # PING, DATA). The frames are queued as bytes, with the effect of h2's
        # increment_flow_control_window and ping (the window opened; a PING
        # changes no state): h2's frame objects would cost this peer ~30 us
        # per message, and a slower peer changes the other side's timing
        # (more idle wake-ups per call), which grpc-go's frames do not
        h2c = self.h2
        credit = getattr(self, "_go_credit", 0)
        if credit:
            self._go_credit = 0
            h2c._inbound_flow_control_window_manager.window_opened(credit)
            h2c._data_to_send += _WINDOW_UPDATE_HEADER + credit.to_bytes(4, "big")
        if getattr(self, "_go_ping", False):
            self._go_ping = False
            h2c._data_to_send += _PING_HEADER + BDP_PING
        flush(self)

    def _on_ping_ack(self: Any, event: Any) -> None:
        if bytes(event.ping_data or b"") == BDP_PING:
            self._bdp_outstanding = False
        on_ping_ack(self, event)

    ConnectionCore._on_data = _on_data  # type: ignore[method-assign]
    ConnectionCore._on_ping_ack = _on_ping_ack  # type: ignore[method-assign]
    ConnectionCore.flush = _flush  # type: ignore[method-assign]
    ConnectionCore._go_control = True  # type: ignore[attr-defined]
