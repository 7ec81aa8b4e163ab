"""Client-side interceptors: map_request, map_response, custom ones, ClientCtx, laziness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

import gorums_h2 as g
from gorums_h2.testing import (
    ECHO_MULTICAST,
    ECHO_QC,
    Echo,
    EchoService,
    echo_server_fn,
    test_configuration,
)

pytestmark = pytest.mark.anyio


def recording_servers() -> tuple[list[EchoService], Callable[[int], g.Server]]:
    """A server factory for test_configuration, and the services it made."""
    services: list[EchoService] = []

    def srv_fn(i: int) -> g.Server:
        server = echo_server_fn(i)
        services.append(server.service)  # type: ignore[attr-defined]
        return server

    return services, srv_fn


async def test_map_request_transforms_and_skips_per_node(wire: str) -> None:
    async with test_configuration(3, wire=wire) as cfg:
        def per_node(req: Echo, node: g.Node) -> Echo | None:
            if node.id == 2:
                return None  # skip node 2
            return Echo(value=f"{req.value}@{node.id}")

        responses = g.quorum_call(cfg.context(), Echo(value="r"), ECHO_QC, Echo,
                                  interceptors=[g.map_request(per_node)])
        replies = {r.node_id: r.value.value for r in [x async for x in responses]
                   if r.value is not None}
        assert replies == {0: "r@0", 1: "r@1"}
        # two of three is still a majority; all() is impossible
        responses = g.quorum_call(cfg.context(), Echo(value="m"), ECHO_QC, Echo,
                                  interceptors=[g.map_request(per_node)])
        assert (await responses.majority()).value in ("m@0", "m@1")
        with pytest.raises(g.IncompleteError):
            await g.quorum_call(cfg.context(), Echo(), ECHO_QC, Echo,
                                interceptors=[g.map_request(per_node)]).all()


async def test_map_response_chain_applies_in_order(wire: str) -> None:
    async with test_configuration(3, wire=wire) as cfg:
        first = g.map_response(lambda r, n: Echo(value=r.value + "-1", node_id=r.node_id))
        second = g.map_response(lambda r, n: Echo(value=r.value + "-2", node_id=r.node_id))
        reply = await g.quorum_call(cfg.context(), Echo(value="v"), ECHO_QC, Echo,
                                    interceptors=[first, second]).all()
        assert reply.value == "v-1-2"


async def test_custom_interceptor_sees_client_ctx_and_wraps_replies(wire: str) -> None:
    async with test_configuration(3, wire=wire) as cfg:
        log: list[str] = []

        def logging_interceptor(ctx: g.ClientCtx[Echo, Echo],
                                seq: g.ResponseSeq[Echo]) -> g.ResponseSeq[Echo]:
            log.append(f"{ctx.method} size={ctx.size()} req={ctx.request.value}")
            assert ctx.config is cfg and [n.id for n in ctx.nodes()] == [0, 1, 2]
            assert ctx.node(1) is cfg.node(1)

            async def wrapped() -> AsyncIterator[g.NodeResponse[Echo]]:
                async for r in seq:
                    log.append(f"reply {r.node_id}")
                    yield r

            return g.ResponseSeq(wrapped)

        reply = await g.quorum_call(cfg.context(), Echo(value="c"), ECHO_QC, Echo,
                                    interceptors=[logging_interceptor]).all()
        assert reply.value == "c"
        assert log[0] == f"{ECHO_QC} size=3 req=c"
        assert sorted(log[1:]) == ["reply 0", "reply 1", "reply 2"]


async def test_interceptor_can_short_circuit_and_nothing_is_sent(wire: str) -> None:
    services, srv_fn = recording_servers()

    async with test_configuration(3, srv_fn, wire=wire) as cfg:
        def cached(ctx: g.ClientCtx[Echo, Echo],
                   seq: g.ResponseSeq[Echo]) -> g.ResponseSeq[Echo]:
            async def from_cache() -> AsyncIterator[g.NodeResponse[Echo]]:
                for node in ctx.nodes():
                    yield g.NodeResponse(node.id, Echo(value="cached"), None)

            return g.ResponseSeq(from_cache)

        reply = await g.quorum_call(cfg.context(), Echo(), ECHO_QC, Echo,
                                    interceptors=[cached]).majority()
        assert reply.value == "cached"
        await g.quorum_call(cfg.context(), Echo(), ECHO_QC, Echo).all()
        assert [s.handled for s in services] == [1, 1, 1]  # only the uncached call


async def test_sending_is_lazy_until_a_terminal_method(wire: str) -> None:
    services, srv_fn = recording_servers()

    async with test_configuration(3, srv_fn, wire=wire) as cfg:
        responses = g.quorum_call(cfg.context(), Echo(value="lazy"), ECHO_QC, Echo)
        assert responses.size() == 3
        await g.quorum_call(cfg.context(), Echo(), ECHO_QC, Echo).all()
        assert [s.handled for s in services] == [1, 1, 1]  # the first one did not go out
        assert (await responses.first()).value == "lazy"


async def test_multicast_map_request_per_node(wire: str) -> None:
    services, srv_fn = recording_servers()

    async with test_configuration(3, srv_fn, wire=wire) as cfg:
        await g.multicast(cfg.context(), Echo(value="mc"), ECHO_MULTICAST, interceptors=[
            g.map_request(lambda r, n: None if n.id == 0 else Echo(value=f"mc{n.id}"))])
        await g.quorum_call(cfg.context(), Echo(), ECHO_QC, Echo).all()  # FIFO barrier
        assert [[m.value for m in s.received] for s in services] == [[], ["mc1"], ["mc2"]]
