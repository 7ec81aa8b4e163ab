"""Responses and call errors as users meet them: single use said plainly,
impossible thresholds at once, honest reply counts, connection errors that
name the address and cause, calls after close."""

from __future__ import annotations

import socket

import anyio
import pytest

import gorums_h2 as g
from gorums_h2.testing import (
    ECHO_MULTICAST,
    ECHO_QC,
    ECHO_RPC,
    Echo,
    StopFunc,
    pending_routes,
    test_configuration,
)
from gorums_h2.wire.errors import ConnectionClosed

pytestmark = pytest.mark.anyio


def qc(cfg: g.Configuration, value: str = "x") -> g.Responses[Echo]:
    return g.quorum_call(cfg.context(timeout=10), Echo(value=value), ECHO_QC, Echo)


async def test_reusing_consumed_replies_raises_a_clear_error() -> None:
    async with test_configuration(3) as cfg:
        r = qc(cfg)
        assert len([x async for x in r]) == 3
        with pytest.raises(RuntimeError, match="already consumed"):
            await r.majority()
        with pytest.raises(RuntimeError, match="already consumed"):
            [x async for x in r]

        r = qc(cfg)
        await r.majority()
        with pytest.raises(RuntimeError, match="already consumed"):
            [x async for x in r]
        with pytest.raises(RuntimeError, match="already consumed"):
            r.async_first()  # at once, not in the future

        r = qc(cfg)
        seq = r.seq()
        assert len([x async for x in seq]) == 3
        with pytest.raises(RuntimeError, match="already consumed"):
            [x async for x in seq]
        with pytest.raises(RuntimeError, match="already consumed"):
            await r.collect_all()

        r = qc(cfg)
        assert len([x async for x in r.ignore_errors()]) == 3
        with pytest.raises(RuntimeError, match="already consumed"):
            r.correctable(2)
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]


async def test_impossible_thresholds_fail_at_once_without_sending() -> None:
    async with test_configuration(3) as cfg:
        r = qc(cfg)
        with pytest.raises(ValueError, match=r"threshold 5 can never be reached.*3 node"):
            await r.threshold(5)
        with pytest.raises(ValueError, match="threshold 4"):
            qc(cfg).async_threshold(4)
        with pytest.raises(ValueError, match="threshold 4"):
            qc(cfg).correctable(4)
        assert not r._call.started  # nothing was sent
        # the Responses is still usable after a rejected threshold
        assert (await r.threshold(3)).value == "x"


async def test_incomplete_error_counts_the_replies_honestly() -> None:
    stop = StopFunc()
    async with test_configuration(3, stop_func=stop, backoff=g.Backoff(base_delay=30)) as cfg:
        await qc(cfg).all()
        stop(2)
        with anyio.fail_after(10):
            await cfg.nodes()[2].wait_disconnected()
        with pytest.raises(g.IncompleteError) as info:
            await qc(cfg).all()
        # node 2's error arrives at once and makes 3 successes impossible:
        # the two live nodes' replies are not waited for, and the text says so
        assert "(0 of 3 needed replies; 1 of 3 node(s) failed, 2 not awaited" in str(info.value)
        assert list(info.value.node_errors) == [2]


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: connecting is refused


async def test_connection_errors_name_the_address_and_the_cause() -> None:
    port = _refused_port()
    async with g.new_config(g.with_node_list([f"127.0.0.1:{port}"]),
                            backoff=g.Backoff(base_delay=30)) as cfg:
        with pytest.raises(g.IncompleteError) as info:
            await qc(cfg).first()
    [err] = info.value.node_errors.values()
    assert f"cannot connect to 127.0.0.1:{port}: [Errno 111] Connection refused" in str(err)


async def test_calls_after_the_manager_closed_say_so() -> None:
    async with test_configuration(2) as cfg:
        await qc(cfg).all()
        manager = cfg.manager
        assert manager is not None
        manager.close()
        with pytest.raises(ConnectionClosed, match="the manager is closed"):
            await qc(cfg).majority()
        with pytest.raises(ConnectionClosed, match="the manager is closed"):
            qc(cfg).async_majority()
        with pytest.raises(ConnectionClosed, match="the manager is closed"):
            await g.rpc_call(cfg.nodes()[0].context(), Echo(value="r"), ECHO_RPC, Echo)
        with pytest.raises(ConnectionClosed, match="the manager is closed"):
            await g.multicast(cfg.context(), Echo(value="m"), ECHO_MULTICAST)
        await g.multicast(cfg.context(), Echo(value="m"), ECHO_MULTICAST, ignore_errors=True)
