"""Client-side quorum interceptors (Go's QuorumInterceptor, MapRequest, MapResponse).

An interceptor is ``f(ctx: ClientCtx, next: ResponseSeq) -> ResponseSeq``.
Interceptors given to a call are applied in order when the call is created,
before anything is sent (sending is lazy), so they can register per-node
request transforms (:func:`map_request`) and wrap the reply sequence
(:func:`map_response`, or any custom async generator).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

from gorums_h2.responses import NodeResponse, ResponseSeq

if TYPE_CHECKING:
    from gorums_h2.configuration import Configuration
    from gorums_h2.node import Node

__all__ = ["ClientCtx", "QuorumInterceptor", "map_request", "map_response"]

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class ClientCtx(Generic[Req, Resp]):
    """What an interceptor can see and change about a call before it is sent."""

    __slots__ = ("_nodes_by_id", "_transforms", "config", "method", "request")

    def __init__(self, request: Req, config: Configuration, method: str) -> None:
        self.request = request
        self.config = config
        self.method = method
        self._transforms: list[Callable[[Any, Node], Any]] = []
        self._nodes_by_id: dict[int, Node] | None = None

    def nodes(self) -> list[Node]:
        return self.config.nodes()

    def node(self, node_id: int) -> Node | None:
        return self.config.node(node_id)

    def size(self) -> int:
        return self.config.size()

    def add_request_transform(self, fn: Callable[[Req, Node], Req | None]) -> None:
        """Register a per-node request transform (what :func:`map_request` does)."""
        self._transforms.append(fn)

    def request_for(self, node: Node) -> Req | None:
        """The request for ``node`` after every transform (None: skip the node)."""
        req: Any = self.request
        for fn in self._transforms:
            req = fn(req, node)
            if req is None:
                return None
        return req  # type: ignore[no-any-return]

    def envelopes(self, header: bytes) -> list[tuple[Node, bytes]]:
        """``(node, message)`` for every node the request goes to, in
        configuration order: the request ``header`` (seq, method, entries;
        :meth:`~gorums_h2.codec.WireProtocol.request_header`) framed by the
        manager's wire with the transformed request per node, or one shared
        encoding when nothing transforms it; nodes whose transform returned
        None are left out."""
        config = self.config
        manager = config.manager
        if manager is None:
            return []
        frame = manager.wire.frame
        request: Any = self.request
        if not self._transforms:  # one encoding for all (a list, not a generator: per call)
            shared = frame(header, request.SerializeToString())
            return [(node, shared) for node in config]
        out: list[tuple[Node, bytes]] = []
        shared_bytes: bytes | None = None
        for node in config:
            req: Any = self.request_for(node)
            if req is None:
                continue
            if req is request:
                if shared_bytes is None:
                    shared_bytes = frame(header, request.SerializeToString())
                out.append((node, shared_bytes))
            else:
                out.append((node, frame(header, req.SerializeToString())))
        return out


QuorumInterceptor: TypeAlias = Callable[
    [ClientCtx[Req, Resp], ResponseSeq[Resp]], ResponseSeq[Resp]]


def map_request(fn: Callable[[Req, Node], Req | None]) -> QuorumInterceptor[Req, Any]:
    """Send ``fn(request, node)`` to each node; returning None skips that node."""

    def interceptor(ctx: ClientCtx[Req, Any], seq: ResponseSeq[Any]) -> ResponseSeq[Any]:
        ctx.add_request_transform(fn)
        return seq

    return interceptor


def map_response(fn: Callable[[Resp, Node], Resp]) -> QuorumInterceptor[Any, Resp]:
    """Replace each successful reply with ``fn(reply, node)``."""

    def interceptor(ctx: ClientCtx[Any, Resp], seq: ResponseSeq[Resp]) -> ResponseSeq[Resp]:
        async def mapped() -> AsyncIterator[NodeResponse[Resp]]:
            async for r in seq:
                if r.err is None and r.value is not None:
                    node = ctx.node(r.node_id)
                    if node is not None:
                        r = NodeResponse(r.node_id, fn(r.value, node), None)
                yield r

        return ResponseSeq(mapped)

    return interceptor
