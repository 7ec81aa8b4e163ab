"""A replica's node for itself: calls dispatched to its own server in process
(Go master's local node; no connection to itself).

A :class:`LocalChannel` looks like any node channel to the call functions:
``send`` hands it the encoded request, which is decoded and given to the
server's handler in a new task — concurrently, without the per-stream
ordering of a client stream, as master's local node calls the handler
directly. The handler's reply (or status) is routed back to the call exactly
like a reply from the network, so errors are those of a remote node: an
unknown method gets the wire's UNIMPLEMENTED, a handler's StatusError
arrives as that status. The channel is up until its manager closes; then
its pending calls fail with ConnectionClosed. Cancelling a call does not
cancel the handler (a remote node would go on with it too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from gorums_h2.channel import ChannelOptions, NodeChannel
from gorums_h2.wire.errors import ConnectionClosed, EndOfStream

if TYPE_CHECKING:
    from gorums_h2.server import Server

__all__ = ["LocalChannel"]


class LocalStream:
    """What the calls and the handlers write to in process: every message
    goes straight to ``deliver``; never full, never closed."""

    __slots__ = ("_deliver", "finished", "local_closed", "peer", "queued", "written")

    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self._deliver = deliver
        self.local_closed = False
        self.finished = False
        self.queued = self.written = 0
        self.peer = "in-process"

    def send_nowait(self, body: bytes) -> int:
        self._deliver(body)
        return 0

    async def wait_send_capacity(self) -> None:
        return None

    async def receive(self) -> bytes:
        """Nothing arrives on it (requests come through ``send_nowait``)."""
        raise EndOfStream()


class LocalChannel(NodeChannel):
    """The channel of a replica's own node (module doc)."""

    def __init__(self, server: Server, options: ChannelOptions, host: str, port: int,
                 start: Callable[..., object]) -> None:
        super().__init__(host, port, options)
        self._first_attempt_done = True
        replies = LocalStream(self._on_message)  # the handler's replies: routed to calls
        self._dispatch = server.back_channel_dispatcher(
            replies, options.wire, start)  # type: ignore[arg-type]  # the Stream API it uses
        self.stream = LocalStream(self._request)  # type: ignore[assignment]

    def _request(self, body: bytes) -> None:
        self._dispatch(self.options.wire.decode(body))

    async def run(self) -> None:
        """Nothing to connect: up until stopped (the manager closes)."""
        try:
            with anyio.CancelScope() as scope:
                self._stop_scope = scope
                await anyio.sleep_forever()
        finally:
            self._closing = True
            self.stream = None
            self.state_changed.set()
            self._fail_routes(ConnectionClosed(f"node {self.address} (local): manager closed"))
