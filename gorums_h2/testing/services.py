"""Server implementations for tests: echo and streaming (Go's EchoServerFn, StreamServerFn).

They serve ``gorums.testing.TestService`` (proto/testing.proto):

* ``EchoRPC`` / ``EchoQC`` reply with the request, ``node_id`` set to the
  server's index, after ``delay_ms`` if given;
* ``StreamQC`` replies ``num`` times (values ``"<value>-<k>"``);
* ``EchoUnicast`` / ``EchoMulticast`` record the request in ``received``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from gorums_h2.server import Server, ServerCtx, one_way_handler, stream_handler, unary_handler
from gorums_h2.testing.testing_pb2 import Echo

__all__ = [
    "ECHO_MULTICAST",
    "ECHO_QC",
    "ECHO_RPC",
    "ECHO_UNICAST",
    "SERVICE",
    "STREAM_QC",
    "EchoService",
    "echo_server_fn",
    "register_echo_service",
    "stream_server_fn",
]

SERVICE = "gorums.testing.TestService"
ECHO_RPC = f"{SERVICE}.EchoRPC"
ECHO_QC = f"{SERVICE}.EchoQC"
STREAM_QC = f"{SERVICE}.StreamQC"
ECHO_UNICAST = f"{SERVICE}.EchoUnicast"
ECHO_MULTICAST = f"{SERVICE}.EchoMulticast"


class EchoService:
    """Echoes requests; records one-way messages; counts handled requests."""

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.received: list[Echo] = []
        self.handled = 0
        self.message_arrived = anyio.Event()

    def _echo(self, req: Echo) -> Echo:
        return Echo(value=req.value, num=req.num, node_id=self.index, payload=req.payload)

    async def echo_rpc(self, ctx: ServerCtx, req: Echo) -> Echo:
        self.handled += 1
        if req.delay_ms:
            await anyio.sleep(req.delay_ms / 1000)
        return self._echo(req)

    async def echo_qc(self, ctx: ServerCtx, req: Echo) -> Echo:
        return await self.echo_rpc(ctx, req)

    async def stream_qc(self, ctx: ServerCtx, req: Echo,
                        send: Callable[[Echo], Awaitable[None]]) -> None:
        self.handled += 1
        for k in range(req.num):
            if req.delay_ms:
                await anyio.sleep(req.delay_ms / 1000)
            await send(Echo(value=f"{req.value}-{k}", num=k, node_id=self.index))

    async def echo_unicast(self, ctx: ServerCtx, req: Echo) -> None:
        self._record(req)

    async def echo_multicast(self, ctx: ServerCtx, req: Echo) -> None:
        self._record(req)

    def _record(self, req: Echo) -> None:
        self.handled += 1
        self.received.append(req)
        self.message_arrived.set()
        self.message_arrived = anyio.Event()


def register_echo_service(server: Server, service: EchoService) -> None:
    """Register ``service``'s methods on ``server``."""
    server.register_handler(ECHO_RPC, unary_handler(service.echo_rpc))
    server.register_handler(ECHO_QC, unary_handler(service.echo_qc))
    server.register_handler(STREAM_QC, stream_handler(service.stream_qc))
    server.register_handler(ECHO_UNICAST, one_way_handler(service.echo_unicast))
    server.register_handler(ECHO_MULTICAST, one_way_handler(service.echo_multicast))


def echo_server_fn(index: int) -> Server:
    """A Server with an :class:`EchoService` (available as ``server.service``)."""
    server = Server()
    service = EchoService(index)
    register_echo_service(server, service)
    server.service = service  # type: ignore[attr-defined]
    return server


stream_server_fn = echo_server_fn
"""Same server: its ``StreamQC`` is the streaming implementation."""
