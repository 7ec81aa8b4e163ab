"""Server processes of the peers and of the raw wire benchmark.

``python bench/benchlib/peer_server.py IMPL [--count N] [--backend B]``
prints ``LISTENING host:port`` per server and serves until SIGTERM or until
its parent exits. IMPL (``--backend uvloop`` runs the asyncio servers on uvloop):

* ``grpclib`` / ``grpcio`` — ``benchpeer.Echo``: ``Unary`` echoes a
  ``BytesValue``; ``Stream`` (bidi) echoes every message, in order (the
  streaming peers put a request id in front of the payload); ``Sink``
  (client streaming) counts messages until the client half-closes, then
  replies once;
* ``wire`` — gorums_h2's raw gRPC layer: ``/bench.Wire/Echo`` echoes every
  message of a bidi stream (on asyncio or trio).

purerpc's server lives in ``purerpc_peer.py`` (it runs in its own venv).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf.wrappers_pb2 import BytesValue

SERVICE = "benchpeer.Echo"
UNARY = f"/{SERVICE}/Unary"
SINK = f"/{SERVICE}/Sink"
STREAM = f"/{SERVICE}/Stream"
WIRE_PATH = "/bench.Wire/Echo"
GRPC_OPTIONS = [("grpc.max_receive_message_length", 8 * 1024 * 1024),
                ("grpc.max_send_message_length", 8 * 1024 * 1024)]


def _announce(port: int) -> None:
    print(f"LISTENING 127.0.0.1:{port}", flush=True)


async def _until_stopped() -> None:
    """Return on SIGTERM/SIGINT or when the parent process exits (asyncio)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


# ---- grpclib ----


class GrpclibEcho:
    def __mapping__(self) -> dict[str, Any]:
        from grpclib.const import Cardinality, Handler

        return {
            UNARY: Handler(self.unary, Cardinality.UNARY_UNARY, BytesValue, BytesValue),
            SINK: Handler(self.sink, Cardinality.STREAM_UNARY, BytesValue, BytesValue),
            STREAM: Handler(self.stream, Cardinality.STREAM_STREAM, BytesValue, BytesValue),
        }

    async def stream(self, stream: Any) -> None:
        async for request in stream:
            await stream.send_message(request)

    async def unary(self, stream: Any) -> None:
        request = await stream.recv_message()
        await stream.send_message(request)

    async def sink(self, stream: Any) -> None:
        count = 0
        async for _ in stream:
            count += 1
        await stream.send_message(BytesValue(value=str(count).encode()))


async def serve_grpclib(count: int) -> None:
    from grpclib.server import Server

    servers = []
    for _ in range(count):
        server = Server([GrpclibEcho()])
        await server.start("127.0.0.1", 0)
        servers.append(server)
        _announce(server._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await _until_stopped()
    for server in servers:
        server.close()
        await server.wait_closed()


# ---- grpcio (asyncio API) ----


async def serve_grpcio(count: int) -> None:
    import grpc

    async def unary(request: BytesValue, context: Any) -> BytesValue:
        return request

    async def sink(requests: AsyncIterator[BytesValue], context: Any) -> BytesValue:
        count = 0
        async for _ in requests:
            count += 1
        return BytesValue(value=str(count).encode())

    async def echo(requests: AsyncIterator[BytesValue], context: Any
                   ) -> AsyncIterator[BytesValue]:
        async for request in requests:
            yield request

    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Stream": grpc.stream_stream_rpc_method_handler(
            echo, request_deserializer=BytesValue.FromString,
            response_serializer=BytesValue.SerializeToString),
        "Unary": grpc.unary_unary_rpc_method_handler(
            unary, request_deserializer=BytesValue.FromString,
            response_serializer=BytesValue.SerializeToString),
        "Sink": grpc.stream_unary_rpc_method_handler(
            sink, request_deserializer=BytesValue.FromString,
            response_serializer=BytesValue.SerializeToString),
    })
    servers = []
    for _ in range(count):
        server = grpc.aio.server(options=GRPC_OPTIONS)
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        _announce(port)
    await _until_stopped()
    for server in servers:
        await server.stop(None)


# ---- gorums_h2's raw wire layer ----


async def serve_wire(count: int) -> None:
    import anyio

    from gorums_h2.wire import ServerStream, WireServer

    async def echo(stream: ServerStream) -> None:
        async for body in stream:
            stream.send_nowait(body)

    async with anyio.create_task_group() as tg:
        for _ in range(count):
            server = WireServer({WIRE_PATH: echo})
            _, port = await tg.start(server.serve_tcp, "127.0.0.1", 0)
            _announce(port)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            parent = os.getppid()
            with anyio.move_on_after(None) as scope:
                tg.start_soon(_watch_parent, parent, scope)
                async for _ in signals:
                    break
        tg.cancel_scope.cancel()


async def _watch_parent(parent: int, scope: Any) -> None:
    import anyio

    while os.getppid() == parent:  # noqa: ASYNC110
        await anyio.sleep(0.5)
    scope.cancel()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("impl", choices=("grpclib", "grpcio", "wire"))
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--backend", default="asyncio", choices=("asyncio", "trio", "uvloop"))
    args = ap.parse_args(argv)
    loop_factory = None
    if args.backend == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    if args.impl == "grpclib":
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve_grpclib(args.count))
    elif args.impl == "grpcio":
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve_grpcio(args.count))
    else:
        import anyio

        backend, options = args.backend, {}
        if backend == "uvloop":
            backend, options = "asyncio", {"use_uvloop": True}
        anyio.run(serve_wire, args.count, backend=backend, backend_options=options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
