"""In-process clients of the workloads (see :mod:`benchlib.workloads`):
gorums_h2 (asyncio or trio), grpclib and grpcio's asyncio API (asyncio) in
two forms each, and the raw gorums_h2 wire client of the wire benchmark.

The peers' two forms:

* unary (``grpclib``, ``grpcio``): one unary call per request;
* streaming (``grpclib-stream``, ``grpcio-stream``): what an expert would
  write for gorums' traffic, and what our NodeStream is: one bidirectional
  stream per server, opened once; each request carries an id (8 bytes in
  front of the payload), a reader task per stream hands each reply to the
  call waiting for that id.

Each is an async context manager built from the server addresses; it
connects to every server on entry.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import anyio
from google.protobuf.wrappers_pb2 import BytesValue

from benchlib.peer_server import GRPC_OPTIONS, SINK, STREAM, UNARY, WIRE_PATH

__all__ = ["CLIENTS", "GrpcioClient", "GrpcioStreamClient", "GrpclibClient",
           "GrpclibStreamClient", "OursClient", "WireClient"]


class _Base:
    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Any:
        await self._stack.__aenter__()
        try:
            await self._open()
        except BaseException:
            await self._stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._close()
        await self._stack.__aexit__(et, e, tb)

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        pass


class OursClient(_Base):
    """gorums_h2: ordered RPC, quorum call, multicast (+ a quorum call as the sync)."""

    async def _open(self) -> None:
        from gorums_h2 import Manager, with_node_list
        from gorums_h2.benchmark import benchmark_gorums as bg
        from gorums_h2.benchmark.benchmark_pb2 import Echo, TimedMsg

        self._bg, self._Echo, self._TimedMsg = bg, Echo, TimedMsg
        mgr = await self._stack.enter_async_context(Manager())
        self._with_node_list = with_node_list
        self._mgr = mgr
        everything = mgr.new_configuration(with_node_list(self.addresses))
        with anyio.fail_after(30):
            for node in everything:
                while not node.connected:
                    if node.last_err is not None:
                        raise ConnectionError(f"{node.address}: {node.last_err}")
                    await anyio.sleep(0.005)
        self._contexts: dict[int, Any] = {}
        first = mgr.new_configuration(with_node_list(self.addresses[:1])).nodes()[0]
        self._rpc_ctx = first.context()

    def _ctx(self, nodes: int) -> Any:
        ctx = self._contexts.get(nodes)
        if ctx is None:
            config = self._mgr.new_configuration(self._with_node_list(self.addresses[:nodes]))
            ctx = self._contexts[nodes] = config.context()
        return ctx

    def message(self, payload: bytes) -> Any:
        return self._Echo(payload=payload)

    async def rpc(self, msg: Any) -> None:
        await self._bg.ordered_rpc(self._rpc_ctx, msg)

    async def quorum(self, nodes: int, q: int, msg: Any) -> None:
        await self._bg.quorum_call(self._ctx(nodes), msg).threshold(q)

    async def multicast_round(self, nodes: int, count: int, msg: Any) -> None:
        ctx = self._ctx(nodes)
        timed = self._TimedMsg(payload=msg.payload)
        multicast = self._bg.multicast
        for _ in range(count):
            await multicast(ctx, timed)
        # FIFO per node: this reply comes after every multicast was handled
        await self._bg.quorum_call(ctx, self._Echo()).all()


class _AsyncioFanOut(_Base):
    """Fan-out on asyncio: start every call, return at the q-th reply; the
    others finish in the background (awaited before the client closes)."""

    def __init__(self, addresses: list[str]) -> None:
        super().__init__(addresses)
        self._pending: set[Any] = set()

    def _start(self, node: int, msg: Any) -> Any:
        raise NotImplementedError

    async def quorum(self, nodes: int, q: int, msg: Any) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        count = 0
        pending = self._pending

        def on_done(call: Any) -> None:
            nonlocal count
            pending.discard(call)
            count += 1
            if count == q and not done.done():
                done.set_result(None)

        for i in range(nodes):
            call = self._start(i, msg)
            pending.add(call)
            call.add_done_callback(on_done)
        await done

    async def _close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


class GrpclibClient(_AsyncioFanOut):
    """grpclib (asyncio): unary calls; client-streaming Sink for multicast."""

    async def _open(self) -> None:
        from grpclib.client import Channel, StreamUnaryMethod, UnaryUnaryMethod

        self._channels = []
        for address in self.addresses:
            host, port = address.rsplit(":", 1)
            self._channels.append(Channel(host, int(port)))
        self._unary = [UnaryUnaryMethod(ch, UNARY, BytesValue, BytesValue)
                       for ch in self._channels]
        self._sink = [StreamUnaryMethod(ch, SINK, BytesValue, BytesValue)
                      for ch in self._channels]
        for unary in self._unary:  # connect now
            await unary(BytesValue())

    async def _close(self) -> None:
        await super()._close()
        for ch in self._channels:
            ch.close()

    def message(self, payload: bytes) -> Any:
        return BytesValue(value=payload)

    async def rpc(self, msg: Any) -> None:
        await self._unary[0](msg)

    def _start(self, node: int, msg: Any) -> Any:
        return asyncio.ensure_future(self._unary[node](msg))

    async def multicast_round(self, nodes: int, count: int, msg: Any) -> None:
        await _grpclib_multicast(self._sink[:nodes], count, msg)


class GrpcioClient(_AsyncioFanOut):
    """grpcio's asyncio API: unary calls; client-streaming Sink for multicast."""

    async def _open(self) -> None:
        import grpc

        self._channels = [grpc.aio.insecure_channel(a, options=GRPC_OPTIONS)
                          for a in self.addresses]
        ser, de = BytesValue.SerializeToString, BytesValue.FromString
        self._unary = [ch.unary_unary(UNARY, request_serializer=ser, response_deserializer=de)
                       for ch in self._channels]
        self._sink = [ch.stream_unary(SINK, request_serializer=ser, response_deserializer=de)
                      for ch in self._channels]
        for unary in self._unary:
            await unary(BytesValue())

    async def _close(self) -> None:
        await super()._close()
        for ch in self._channels:
            await ch.close()

    def message(self, payload: bytes) -> Any:
        return BytesValue(value=payload)

    async def rpc(self, msg: Any) -> None:
        await self._unary[0](msg)

    def _start(self, node: int, msg: Any) -> Any:
        return self._unary[node](msg)  # a call object: awaitable, with add_done_callback

    async def multicast_round(self, nodes: int, count: int, msg: Any) -> None:
        await _grpcio_multicast(self._sink[:nodes], count, msg)


async def _grpclib_multicast(sinks: list[Any], count: int, msg: Any) -> None:
    """``count`` one-way messages on a client-streaming Sink to each server."""
    async with AsyncExitStack() as stack:
        streams = [await stack.enter_async_context(sink.open()) for sink in sinks]
        for _ in range(count):
            for stream in streams:
                await stream.send_message(msg)
        for stream in streams:
            await stream.end()
        for stream in streams:
            await stream.recv_message()


async def _grpcio_multicast(sinks: list[Any], count: int, msg: Any) -> None:
    calls = [sink() for sink in sinks]
    for _ in range(count):
        for call in calls:
            await call.write(msg)
    for call in calls:
        await call.done_writing()
    for call in calls:
        await call


class _AsyncioStreams(_Base):
    """The streaming form on asyncio (see the module doc). Subclasses open
    the streams (:meth:`_open_streams`), write one message
    (:meth:`_write`) and read replies until the stream ends (:meth:`_read`)."""

    async def _open(self) -> None:
        self._next_id = 0
        self._waiting: dict[bytes, asyncio.Future[None]] = {}
        await self._open_streams()
        self._readers = [asyncio.ensure_future(self._reader(i))
                         for i in range(len(self.addresses))]
        for i in range(len(self.addresses)):  # every stream answers before we measure
            await self.rpc_to(i, self.message(b""))

    async def _open_streams(self) -> None:
        raise NotImplementedError

    async def _write(self, node: int, msg: Any) -> None:
        raise NotImplementedError

    async def _read(self, node: int) -> Any:
        """The next reply on ``node``'s stream; None at its end."""
        raise NotImplementedError

    async def _end_streams(self) -> None:
        raise NotImplementedError

    async def _reader(self, node: int) -> None:
        waiting = self._waiting
        while (reply := await self._read(node)) is not None:
            future = waiting.pop(reply.value[:8], None)
            if future is not None and not future.done():
                future.set_result(None)

    async def _close(self) -> None:
        await self._end_streams()
        await asyncio.gather(*self._readers, return_exceptions=True)

    def message(self, payload: bytes) -> Any:
        return payload

    def _register(self) -> tuple[bytes, asyncio.Future[None]]:
        self._next_id += 1
        key = self._next_id.to_bytes(8, "little")
        future = self._waiting[key] = asyncio.get_running_loop().create_future()
        return key, future

    async def rpc_to(self, node: int, payload: bytes) -> None:
        key, future = self._register()
        await self._write(node, BytesValue(value=key + payload))
        await future

    async def rpc(self, msg: Any) -> None:
        await self.rpc_to(0, msg)

    async def quorum(self, nodes: int, q: int, msg: Any) -> None:
        done = asyncio.get_running_loop().create_future()
        count = 0

        def on_reply(_: Any) -> None:
            nonlocal count
            count += 1
            if count == q and not done.done():
                done.set_result(None)

        for i in range(nodes):
            key, future = self._register()
            future.add_done_callback(on_reply)
            await self._write(i, BytesValue(value=key + msg))
        await done

    async def multicast_round(self, nodes: int, count: int, msg: Any) -> None:
        # one-way messages are a client stream in either form (the Sink)
        await self._multicast(nodes, count, BytesValue(value=msg))

    async def _multicast(self, nodes: int, count: int, msg: Any) -> None:
        raise NotImplementedError


class GrpclibStreamClient(_AsyncioStreams):
    """grpclib (asyncio): one bidi ``Stream`` per server, replies matched by id."""

    async def _open_streams(self) -> None:
        from grpclib.client import Channel, StreamStreamMethod, StreamUnaryMethod

        self._channels = []
        self._streams = []
        self._sink = []
        for address in self.addresses:
            host, port = address.rsplit(":", 1)
            channel = Channel(host, int(port))
            self._channels.append(channel)
            self._sink.append(StreamUnaryMethod(channel, SINK, BytesValue, BytesValue))
            method = StreamStreamMethod(channel, STREAM, BytesValue, BytesValue)
            stream = await self._stack.enter_async_context(method.open())
            await stream.send_request()
            self._streams.append(stream)

    async def _write(self, node: int, msg: Any) -> None:
        await self._streams[node].send_message(msg)

    async def _multicast(self, nodes: int, count: int, msg: Any) -> None:
        await _grpclib_multicast(self._sink[:nodes], count, msg)

    async def _read(self, node: int) -> Any:
        return await self._streams[node].recv_message()

    async def _end_streams(self) -> None:
        for stream in self._streams:
            await stream.end()

    async def _close(self) -> None:
        await super()._close()
        for ch in self._channels:
            ch.close()


class GrpcioStreamClient(_AsyncioStreams):
    """grpcio's asyncio API: one bidi ``Stream`` call per server, replies matched by id."""

    async def _open_streams(self) -> None:
        import grpc

        self._eof = grpc.aio.EOF
        self._channels = [grpc.aio.insecure_channel(a, options=GRPC_OPTIONS)
                          for a in self.addresses]
        ser, de = BytesValue.SerializeToString, BytesValue.FromString
        self._calls = [ch.stream_stream(STREAM, request_serializer=ser,
                                        response_deserializer=de)()
                       for ch in self._channels]
        self._sink = [ch.stream_unary(SINK, request_serializer=ser, response_deserializer=de)
                      for ch in self._channels]
        # grpcio allows one write in flight per call
        self._locks = [asyncio.Lock() for _ in self._calls]

    async def _write(self, node: int, msg: Any) -> None:
        async with self._locks[node]:
            await self._calls[node].write(msg)

    async def _multicast(self, nodes: int, count: int, msg: Any) -> None:
        await _grpcio_multicast(self._sink[:nodes], count, msg)

    async def _read(self, node: int) -> Any:
        reply = await self._calls[node].read()
        return None if reply is self._eof else reply

    async def _end_streams(self) -> None:
        for call in self._calls:
            await call.done_writing()

    async def _close(self) -> None:
        await super()._close()
        for ch in self._channels:
            await ch.close()


class WireClient(_Base):
    """One bidi stream of gorums_h2's wire layer to an echo server."""

    async def _open(self) -> None:
        from gorums_h2.wire import connect

        host, port = self.addresses[0].rsplit(":", 1)
        conn = await self._stack.enter_async_context(connect(host, int(port)))
        self.stream = await conn.open_stream(WIRE_PATH)

    async def _close(self) -> None:
        self.stream.end()

    async def ping_pong(self, n: int, body: bytes) -> None:
        stream = self.stream
        for _ in range(n):
            stream.send_nowait(body)
            await stream.receive()

    async def pipelined(self, n: int, body: bytes, inflight: int = 100) -> None:
        stream = self.stream
        sent = min(inflight, n)
        for _ in range(sent):
            stream.send_nowait(body)
        for _ in range(n):
            await stream.receive()
            if sent < n:
                stream.send_nowait(body)
                sent += 1


CLIENTS: dict[str, type[_Base]] = {
    "gorums_h2": OursClient,
    "grpclib": GrpclibClient,
    "grpcio": GrpcioClient,
    "grpclib-stream": GrpclibStreamClient,
    "grpcio-stream": GrpcioStreamClient,
    "wire": WireClient,
}
