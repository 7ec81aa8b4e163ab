"""User code of the generated test stubs: servers and a client using every function.

The type-check test runs ``mypy --strict`` on this module together with the
generated ``_gorums.py`` modules; the end-to-end test runs it against real
servers. Import it only with the generated modules on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import plugintest_storage_gorums as storage
import plugintest_storage_pb2 as storage_pb
from google.protobuf import empty_pb2, timestamp_pb2
from zorums import types_pb2
from zorums import zorums_gorums as zg
from zorums import zorums_pb2 as zpb

import gorums_h2

__all__ = ["SecondImpl", "StorageImpl", "ZorumsImpl", "register_all", "run_storage",
           "run_zorums"]

STREAM_REPLIES = 3


@dataclass
class ZorumsImpl:
    """Implements zg.ZorumsServiceServer: replies derive from the request,
    one-way methods are recorded in ``received`` (in arrival order)."""

    received: list[tuple[str, str]] = field(default_factory=list)

    async def grpc_call(self, ctx: gorums_h2.ServerCtx, req: zpb.Request) -> zpb.Response:
        return zpb.Response(result=len(req.value))

    async def ordered_rpc(self, ctx: gorums_h2.ServerCtx, req: zpb.Request) -> zpb.Response:
        return zpb.Response(result=2 * len(req.value) + (1 if req.HasField("note") else 0))

    async def rpc_empty(self, ctx: gorums_h2.ServerCtx,
                        req: empty_pb2.Empty) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def quorum_call(self, ctx: gorums_h2.ServerCtx, req: zpb.Request) -> zpb.Response:
        return zpb.Response(result=len(req.value))

    async def quorum_call2(self, ctx: gorums_h2.ServerCtx, req: zpb.Request) -> zpb.Response:
        return zpb.Response(result=-len(req.value))

    async def quorum_call_empty(self, ctx: gorums_h2.ServerCtx,
                                req: empty_pb2.Empty) -> zpb.Response:
        return zpb.Response(result=42)

    async def quorum_call_empty2(self, ctx: gorums_h2.ServerCtx,
                                 req: zpb.Request) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def quorum_call_imported(self, ctx: gorums_h2.ServerCtx,
                                   req: types_pb2.Ping) -> types_pb2.Pong:
        return types_pb2.Pong(value=req.value, count=1)

    async def quorum_call_nested(self, ctx: gorums_h2.ServerCtx,
                                 req: zpb.Outer.Inner) -> zpb.Outer.Inner:
        return zpb.Outer.Inner(value=req.value.upper())

    async def quorum_call_false_multicast(self, ctx: gorums_h2.ServerCtx,
                                          req: zpb.Request) -> zpb.Response:
        return zpb.Response(result=7)

    async def quorum_call_stream(self, ctx: gorums_h2.ServerCtx, req: zpb.Request,
                                 send: Callable[[zpb.Response], Awaitable[None]]) -> None:
        for i in range(1, STREAM_REPLIES + 1):
            await send(zpb.Response(result=i))

    async def quorum_call_stream_imported(
        self, ctx: gorums_h2.ServerCtx, req: zpb.Request,
        send: Callable[[types_pb2.Pong], Awaitable[None]],
    ) -> None:
        for i in range(1, STREAM_REPLIES + 1):
            await send(types_pb2.Pong(value=req.value, count=i))

    async def multicast(self, ctx: gorums_h2.ServerCtx, req: zpb.Request) -> None:
        self.received.append(("multicast", req.value))

    async def multicast2(self, ctx: gorums_h2.ServerCtx, req: zpb.Request) -> None:
        self.received.append(("multicast2", req.value))

    async def multicast_imported(self, ctx: gorums_h2.ServerCtx, req: types_pb2.Ping) -> None:
        self.received.append(("multicast_imported", req.value))

    async def unicast(self, ctx: gorums_h2.ServerCtx, req: zpb.Request) -> None:
        self.received.append(("unicast", req.value))

    async def unicast2(self, ctx: gorums_h2.ServerCtx, req: empty_pb2.Empty) -> None:
        self.received.append(("unicast2", ""))


class SecondImpl:
    async def start_server_benchmark(self, ctx: gorums_h2.ServerCtx,
                                     req: zpb.Request) -> zpb.Response:
        return zpb.Response(result=1000 + len(req.value))


@dataclass
class StorageImpl:
    """The capture's storage semantics: a write applies unless the stored time is newer."""

    state: dict[str, storage_pb.ReadResponse] = field(default_factory=dict)

    def _write(self, req: storage_pb.WriteRequest) -> bool:
        old = self.state.get(req.key)
        if old is not None and old.time.ToNanoseconds() > req.time.ToNanoseconds():
            return False
        self.state[req.key] = storage_pb.ReadResponse(OK=True, value=req.value, time=req.time)
        return True

    async def read_rpc(self, ctx: gorums_h2.ServerCtx,
                       req: storage_pb.ReadRequest) -> storage_pb.ReadResponse:
        return self.state.get(req.key, storage_pb.ReadResponse(OK=False))

    async def write_rpc(self, ctx: gorums_h2.ServerCtx,
                        req: storage_pb.WriteRequest) -> storage_pb.WriteResponse:
        return storage_pb.WriteResponse(new=self._write(req))

    async def read_qc(self, ctx: gorums_h2.ServerCtx,
                      req: storage_pb.ReadRequest) -> storage_pb.ReadResponse:
        return await self.read_rpc(ctx, req)

    async def write_qc(self, ctx: gorums_h2.ServerCtx,
                       req: storage_pb.WriteRequest) -> storage_pb.WriteResponse:
        return await self.write_rpc(ctx, req)

    async def write_unicast(self, ctx: gorums_h2.ServerCtx,
                            req: storage_pb.WriteRequest) -> None:
        self._write(req)

    async def write_multicast(self, ctx: gorums_h2.ServerCtx,
                              req: storage_pb.WriteRequest) -> None:
        self._write(req)

    async def read_correctable(self, ctx: gorums_h2.ServerCtx, req: storage_pb.ReadRequest,
                               send: Callable[[storage_pb.ReadResponse], Awaitable[None]]
                               ) -> None:
        await send(storage_pb.ReadResponse(OK=False))  # a preliminary reply
        await send(await self.read_rpc(ctx, req))


def register_all(srv: gorums_h2.Server, zorums: ZorumsImpl, stor: StorageImpl) -> None:
    """Register all three services; the Protocol annotations are checked by mypy."""
    zimpl: zg.ZorumsServiceServer = zorums
    second: zg.SecondServer = SecondImpl()
    simpl: storage.StorageServer = stor
    zg.register_zorums_service_server(srv, zimpl)
    zg.register_second_server(srv, second)
    storage.register_storage_server(srv, simpl)


def _skip_first(req: zpb.Request, node: gorums_h2.Node) -> zpb.Request | None:
    """A map_request interceptor: changes the request per node."""
    return zpb.Request(value=f"{req.value}@{node.id}")


async def run_zorums(cfg: gorums_h2.Configuration) -> dict[str, object]:
    """Call every ZorumsService/Second function; return what came back, by function."""
    out: dict[str, object] = {}
    node_ctx = cfg.nodes()[0].context(timeout=10)
    req = zpb.Request(value="hello", note="n")

    # ordered RPCs on one node
    r1: zpb.Response = await zg.grpc_call(node_ctx, req)
    r2: zpb.Response = await zg.ordered_rpc(node_ctx, req)
    e1: empty_pb2.Empty = await zg.rpc_empty(node_ctx, empty_pb2.Empty())
    r3: zpb.Response = await zg.start_server_benchmark(node_ctx, req)
    out.update(grpc_call=r1.result, ordered_rpc=r2.result, rpc_empty=e1,
               start_server_benchmark=r3.result)

    # quorum calls on the configuration
    ctx = cfg.context(timeout=10)
    out["quorum_call"] = (await zg.quorum_call(ctx, req).majority()).result
    out["quorum_call2"] = (await zg.quorum_call2(ctx, req).all()).result
    out["quorum_call_empty"] = (await zg.quorum_call_empty(ctx, empty_pb2.Empty()).first()).result
    e2: empty_pb2.Empty = await zg.quorum_call_empty2(ctx, req).threshold(2)
    out["quorum_call_empty2"] = e2
    pong: types_pb2.Pong = await zg.quorum_call_imported(ctx, types_pb2.Ping(value="p")).all()
    out["quorum_call_imported"] = (pong.value, pong.count)
    inner = await zg.quorum_call_nested(ctx, zpb.Outer.Inner(value="abc")).majority()
    out["quorum_call_nested"] = inner.value
    out["quorum_call_false_multicast"] = (
        await zg.quorum_call_false_multicast(ctx, req).majority()).result

    # interceptors, futures and correctables, with the generated aliases
    mapped = zg.quorum_call(ctx, req, interceptors=[gorums_h2.map_request(_skip_first)])
    replies = await mapped.collect_all()
    out["quorum_call_mapped"] = sorted(r.result for r in replies.values() if r is not None)
    fut: zg.ResponseAsync = zg.quorum_call(ctx, req).async_majority()
    out["quorum_call_async"] = (await fut.result()).result
    corr: zg.ResponseCorrectable = zg.quorum_call(ctx, req).correctable(cfg.size())
    await corr.wait()
    value, level, err = corr.get()
    out["quorum_call_correctable"] = (value.result if value else None, level, err)

    # streaming quorum calls: every node sends STREAM_REPLIES replies
    want = STREAM_REPLIES * cfg.size()
    stream_results: list[int] = []
    async for resp in zg.quorum_call_stream(ctx, req).ignore_errors():
        stream_results.append(resp.value.result if resp.value else -1)
        if len(stream_results) == want:
            break
    out["quorum_call_stream"] = sorted(stream_results)
    pcorr: zg.PongCorrectable = zg.quorum_call_stream_imported(ctx, req).correctable(want)
    await pcorr.wait()
    out["quorum_call_stream_imported"] = pcorr.get()[1]

    # one-way calls; a final ordered RPC per node proves they arrived (FIFO)
    await zg.multicast(ctx, zpb.Request(value="m1"))
    await zg.multicast2(ctx, zpb.Request(value="m2"), ignore_errors=True)
    await zg.multicast_imported(ctx, types_pb2.Ping(value="m3"),
                                interceptors=[gorums_h2.map_request(_ping_per_node)])
    await zg.unicast(node_ctx, zpb.Request(value="u1"))
    await zg.unicast2(node_ctx, empty_pb2.Empty(), ignore_errors=False)
    for node in cfg.nodes():
        await zg.grpc_call(node.context(timeout=10), zpb.Request(value="sync"))
    return out


def _ping_per_node(req: types_pb2.Ping, node: gorums_h2.Node) -> types_pb2.Ping | None:
    return types_pb2.Ping(value=f"{req.value}@{node.id}")


async def run_storage(cfg: gorums_h2.Configuration) -> dict[str, object]:
    """The capture's storage script, through the generated storage functions."""
    out: dict[str, object] = {}
    node_ctx = cfg.nodes()[0].context(timeout=10)
    ctx = cfg.context(timeout=10)

    def write(key: str, value: str, secs: int) -> storage_pb.WriteRequest:
        return storage_pb.WriteRequest(
            key=key, value=value, time=timestamp_pb2.Timestamp(seconds=1_700_000_000 + secs))

    w: storage_pb.WriteResponse = await storage.write_rpc(node_ctx, write("a", "1", 1))
    r: storage_pb.ReadResponse = await storage.read_rpc(node_ctx, storage_pb.ReadRequest(key="a"))
    out["write_rpc"], out["read_rpc"] = w.new, r.value
    wq: storage.WriteResponseAsync = storage.write_qc(ctx, write("b", "2", 2)).async_all()
    out["write_qc"] = (await wq.result()).new
    rq = await storage.read_qc(ctx, storage_pb.ReadRequest(key="b")).all()
    out["read_qc"] = rq.value
    await storage.write_multicast(ctx, write("c", "3", 3))
    await storage.write_unicast(node_ctx, write("c", "4", 4))
    rc: storage.ReadResponseCorrectable = storage.read_correctable(
        ctx, storage_pb.ReadRequest(key="c")).correctable(2 * cfg.size())
    await rc.wait()
    out["read_correctable_level"] = rc.level
    out["read_qc_c"] = sorted(
        (v.value if v else "") for v in
        (await storage.read_qc(ctx, storage_pb.ReadRequest(key="c")).collect_all()).values())
    return out
