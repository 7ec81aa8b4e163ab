"""Quorum calls without interceptors consume their replies in the call state
(QuorumCallState.gather): the caller wakes when the quorum is reached or
became impossible; timeouts, errors and closing from elsewhere still end it."""

from __future__ import annotations

import anyio
import pytest

import gorums_h2 as g
from gorums_h2.testing import ECHO_QC, Echo, EchoService, pending_routes, register_echo_service
from gorums_h2.testing import test_configuration as configuration
from gorums_h2.wire.clock import loop_time

pytestmark = pytest.mark.anyio


def _slow_node_zero(i: int) -> g.Server:
    """Servers of which node 0 answers after 10 s."""
    server = g.Server()
    service = EchoService(i)
    original = service.echo_qc

    async def echo_qc(ctx: g.ServerCtx, req: Echo) -> Echo:
        if i == 0:
            await anyio.sleep(10)
        return await original(ctx, req)

    service.echo_qc = echo_qc  # type: ignore[method-assign]
    register_echo_service(server, service)
    return server


def qc(cfg: g.Configuration, timeout: float | None = None) -> g.Responses[Echo]:
    return g.quorum_call(cfg.context(timeout=timeout), Echo(value="v"), ECHO_QC, Echo)


async def test_the_timeout_expires_only_the_missing_node(wire: str) -> None:
    async with configuration(3, _slow_node_zero, wire=wire) as cfg:
        with anyio.fail_after(5):
            assert (await qc(cfg, timeout=5).majority()).node_id in (1, 2)
        start = loop_time()
        with anyio.fail_after(5), pytest.raises(g.IncompleteError) as info:
            await qc(cfg, timeout=0.3).all()
        assert loop_time() - start >= 0.3 - 1e-3
        assert list(info.value.node_errors) == [0]
        err = info.value.node_errors[0]
        assert isinstance(err, g.StatusError) and err.code == g.StatusCode.DEADLINE_EXCEEDED
        assert "2 of 3 needed replies; 1 of 3 node(s) failed" in str(info.value)
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]


async def test_closing_from_another_task_ends_a_waiting_threshold_with_honest_counts(
        wire: str) -> None:
    async with configuration(3, _slow_node_zero, wire=wire) as cfg:
        responses = qc(cfg)
        outcome: list[BaseException] = []

        async def wait_all() -> None:
            try:
                await responses.all()
            except g.IncompleteError as exc:
                outcome.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait_all)
                # sent; nodes 1 and 2 answer at once, node 0 in 10 s
                nodes = cfg.nodes()
                while (not nodes[0].channel.routes  # noqa: ASYNC110 (the channels' routes)
                       or nodes[1].channel.routes
                       or nodes[2].channel.routes):
                    await anyio.sleep(0.01)
                await responses.aclose()
        assert len(outcome) == 1
        # the two replies that could not decide were counted, not dropped
        assert "2 of 3 needed replies; 0 of 3 node(s) failed, 1 not awaited" in str(outcome[0])
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]


async def test_cancelling_a_waiting_threshold_removes_its_routes(wire: str) -> None:
    async with configuration(3, _slow_node_zero, wire=wire) as cfg:
        with anyio.move_on_after(0.2) as scope:
            await qc(cfg, timeout=30).all()
        assert scope.cancelled_caught
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]
        with anyio.fail_after(5):
            assert (await qc(cfg).threshold(2)).value == "v"


def _bad_reply_from_node_one(i: int) -> g.Server:
    """Servers of which node 1 replies with bytes that are not an Echo
    (field 1, Echo's string ``value``, holding invalid UTF-8)."""
    from google.protobuf.wrappers_pb2 import BytesValue

    server = g.Server()
    service = EchoService(i)
    original = service.echo_qc

    async def echo_qc(ctx: g.ServerCtx, req: Echo) -> Echo:
        if i == 1:
            return BytesValue(value=b"\xff\xfe")  # type: ignore[return-value]
        return await original(ctx, req)

    service.echo_qc = echo_qc  # type: ignore[method-assign]
    register_echo_service(server, service)
    return server


async def test_an_undecodable_reply_is_that_nodes_internal_error(wire: str) -> None:
    async with configuration(3, _bad_reply_from_node_one, wire=wire) as cfg:
        with anyio.fail_after(5), pytest.raises(g.IncompleteError) as info:
            await qc(cfg, timeout=5).all()
        err = info.value.node_errors[1]
        assert isinstance(err, g.StatusError) and err.code == g.StatusCode.INTERNAL
        assert "cannot decode reply from node 1" in err.message
        with anyio.fail_after(5):
            assert (await qc(cfg).majority()).node_id in (0, 2)
