"""The contracts around a :class:`~gorums_h2.channel.NodeChannel`: what a call
registers for its replies (:class:`Route`), what the manager configures
(:class:`ChannelOptions`), what serves server-initiated requests
(:class:`BackChannel`), and the error of a full send queue
(:class:`SendQueueFull`).
"""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

from gorums_h2.backoff import Backoff
from gorums_h2.codec import Envelope, WireProtocol
from gorums_h2.wire.metadata import Metadata
from gorums_h2.wire.settings import WireSettings
from gorums_h2.wire.status import StatusCode, StatusError

if TYPE_CHECKING:
    from gorums_h2.node import Node
    from gorums_h2.wire.client import ClientStream

__all__ = [
    "STALLED_AFTER",
    "BackChannel",
    "ChannelOptions",
    "Route",
    "SendQueueFull",
    "decode_reply",
    "size_text",
]

M = TypeVar("M", bound=ProtoMessage)

MiB = 1024 * 1024


STALLED_AFTER = 0.25
"""Seconds the oldest of ``send_buffer_size`` unwritten messages may wait
before quorum calls and multicasts stop waiting for that node's queue (a
draining queue empties in far less)."""


def decode_reply(env: Envelope, response_type: type[M], node_id: int) -> M:
    """The reply message ``env`` carries from node ``node_id``.

    Raises the StatusError of a status reply, or INTERNAL if the payload is
    not a ``response_type``.
    """
    if env.status is not None:
        raise env.status
    try:
        return response_type.FromString(env.payload)
    except DecodeError as exc:
        raise StatusError(StatusCode.INTERNAL,
                          f"cannot decode reply from node {node_id}: {exc}") from None


def size_text(n: int) -> str:
    """``n`` bytes as KiB or MiB, for error messages."""
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.1f} KiB"


class SendQueueFull(StatusError):
    """A node's send queue is full (it does not drain): status UNAVAILABLE.

    Quorum calls and multicasts get it for that node at once instead of
    waiting; the connection itself stays up (so this is not a
    :class:`ConnectionBroken`).
    """

    default_code = StatusCode.UNAVAILABLE


class Route(Protocol):
    """Where replies for one call go (implemented by the call)."""

    streaming: bool
    sent_at: float

    def deliver(self, node: Node, env: Envelope) -> None:
        """A reply from ``node`` (may carry a status in ``env.status``)."""

    def fail(self, node: Node, exc: BaseException) -> None:
        """``node`` can no longer answer this call."""


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    """Manager-wide settings every channel uses."""

    ssl_context: ssl.SSLContext | None
    server_hostname: str | None
    wire_settings: WireSettings
    backoff: Backoff
    metadata: Metadata
    per_node_metadata: Callable[[int], object] | None
    send_buffer_size: int
    logger: logging.Logger
    wire: WireProtocol
    rng: random.Random  # reconnect jitter
    # the client's back-channel handlers (a Server): ``back_channel(stream, tg)``
    # returns what to do with a server-initiated request on that stream
    back_channel: BackChannel | None = None
    node_id_header: str | None = None  # the gorums-node-id value it sends


class BackChannel(Protocol):
    """What serves server-initiated requests on a client's stream (a Server)."""

    def back_channel_dispatcher(self, stream: ClientStream, wire: WireProtocol,
                                start: Callable[..., object]) -> Callable[[Envelope], None]:
        """A function handling one server-initiated request on ``stream``; each
        runs in its own task (``start``: a task group's ``start_soon``) and
        replies on ``stream``."""
