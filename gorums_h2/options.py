"""The keyword options of :class:`~gorums_h2.Manager` and
:class:`~gorums_h2.Server` as ``TypedDict``\\ s, so the functions that
forward them (``new_config``, ``System``, ``local_systems``,
``System.with_config``, ``testing.test_configuration``/``test_node``) stay
type-checked: ``**options: Unpack[ManagerOptions]``. Each key is the
keyword of the same name; its meaning, units and defaults are documented
on the class (a test keeps the keys and the signatures equal).
"""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from gorums_h2.backoff import Backoff
    from gorums_h2.codec import WireLike
    from gorums_h2.handlers import Interceptor, NodeStreamInfo
    from gorums_h2.routes import BackChannel
    from gorums_h2.wire.lifecycle import ServerLimits
    from gorums_h2.wire.metadata import MetadataLike
    from gorums_h2.wire.settings import WireSettings

__all__ = ["ConnectionOptions", "ManagerOptions", "ServerOptions"]


class ConnectionOptions(TypedDict, total=False):
    """:class:`~gorums_h2.Manager`'s options but ``wire`` and ``server``
    (``System.with_config`` chooses those)."""

    ssl_context: ssl.SSLContext | None
    server_hostname: str | None
    wire_settings: WireSettings | None
    backoff: Backoff | None
    logger: logging.Logger | None
    metadata: MetadataLike | None
    per_node_metadata: Callable[[int], MetadataLike | None] | None
    send_buffer_size: int
    compression: str | None
    rng: random.Random | None


class ManagerOptions(ConnectionOptions, total=False):
    """Every keyword option of :class:`~gorums_h2.Manager`."""

    wire: WireLike
    server: BackChannel | None


class ServerOptions(TypedDict, total=False):
    """Every keyword option of :class:`~gorums_h2.Server`."""

    interceptors: Sequence[Interceptor]
    receive_buffer_size: int
    connect_callback: Callable[[NodeStreamInfo], Awaitable[None] | None] | None
    ssl_context: ssl.SSLContext | None
    max_receive_message_size: int | None
    max_send_message_size: int | None
    wire_settings: WireSettings | None
    logger: logging.Logger | None
    limits: ServerLimits | None
    health: bool
    compression: str | None
    wires: WireLike | Iterable[WireLike]
    my_id: int
    peers: Iterable[int]
    rng: random.Random | None
