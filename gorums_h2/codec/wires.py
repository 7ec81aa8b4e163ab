"""The two NodeStream wires and how to name them (``Manager(wire=...)``, ``Server(wires=...)``)."""

from __future__ import annotations

from collections.abc import Iterable

from gorums_h2.codec.ordering import OrderingWire
from gorums_h2.codec.protocol import WireProtocol
from gorums_h2.codec.stream import StreamWire

__all__ = ["ORDERING", "STREAM", "WIRES", "WireLike", "get_wire", "get_wires"]

ORDERING: WireProtocol = OrderingWire()
"""Go Gorums v0.11's wire (the default)."""
STREAM: WireProtocol = StreamWire()
"""Go Gorums master's wire."""
WIRES: dict[str, WireProtocol] = {ORDERING.name: ORDERING, STREAM.name: STREAM}

WireLike = str | WireProtocol
"""A wire by name (``"ordering"``, ``"stream"``) or as a protocol object."""


def get_wire(wire: WireLike) -> WireProtocol:
    """The protocol object for ``wire``; ValueError for an unknown name."""
    if isinstance(wire, WireProtocol):
        return wire
    try:
        return WIRES[wire]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown wire {wire!r}: expected one of {', '.join(map(repr, WIRES))}") from None


def get_wires(wires: WireLike | Iterable[WireLike]) -> tuple[WireProtocol, ...]:
    """One or more wires, without duplicates; ValueError if empty, unknown, or two
    share a path."""
    items = [wires] if isinstance(wires, str | WireProtocol) else list(wires)
    out: dict[str, WireProtocol] = {}
    for item in items:
        proto = get_wire(item)
        if proto.path in out and out[proto.path] is not proto:
            raise ValueError(f"two wires serve {proto.path}")
        out[proto.path] = proto
    if not out:
        raise ValueError("at least one wire is needed")
    return tuple(out.values())
