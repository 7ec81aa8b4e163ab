"""Exceptions leave our context managers exactly as raised (no ExceptionGroup wrapping).

``except KeyError`` / ``except IncompleteError`` around the block must fire,
on asyncio and trio; real multi-errors stay groups; cancellation still works.
"""

from __future__ import annotations

import socket

import anyio
import pytest

import gorums_h2 as g
from gorums_h2._groups import TaskGroup, sole_exception
from gorums_h2.testing import (
    ECHO_QC,
    Echo,
    StopFunc,
    test_configuration,
    test_node,
    test_servers,
)

pytestmark = pytest.mark.anyio


def qc(cfg: g.Configuration) -> g.Responses[Echo]:
    return g.quorum_call(cfg.context(timeout=10), Echo(value="x"), ECHO_QC, Echo)


def _busy_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


async def test_manager_body_exception_is_not_wrapped() -> None:
    err = KeyError("mine")
    caught = None
    try:
        async with g.Manager():
            raise err
    except KeyError as exc:
        caught = exc
    assert caught is err
    assert caught.__context__ is None  # no group chained as a second error


async def test_incomplete_error_from_a_call_reaches_except_around_the_blocks() -> None:
    stop = StopFunc()
    caught: list[BaseException] = []
    try:
        async with test_configuration(3, stop_func=stop,
                                      backoff=g.Backoff(base_delay=30)) as cfg:
            await qc(cfg).all()
            stop(2)
            with anyio.fail_after(10):
                await cfg.nodes()[2].wait_disconnected()
            await qc(cfg).all()
    except g.IncompleteError as exc:
        caught.append(exc)
    assert len(caught) == 1 and list(caught[0].node_errors) == [2]  # type: ignore[attr-defined]


async def test_new_config_body_exception_is_not_wrapped() -> None:
    async with test_servers(1) as servers:
        with pytest.raises(KeyError) as info:
            async with g.new_config(g.with_node_list(servers.addresses)) as cfg:
                await qc(cfg).first()
                raise KeyError("in new_config")
        assert type(info.value) is KeyError


async def test_system_and_testing_helpers_pass_body_exceptions_through() -> None:
    with pytest.raises(KeyError):
        async with g.System("127.0.0.1:0"):
            raise KeyError("system")
    with pytest.raises(KeyError):
        async with g.local_systems(2):
            raise KeyError("local_systems")
    with pytest.raises(KeyError):
        async with test_servers(2):
            raise KeyError("test_servers")
    with pytest.raises(KeyError):
        async with test_node():
            raise KeyError("test_node")


async def test_a_background_failure_leaves_as_that_one_exception() -> None:
    async def fail() -> None:
        raise ValueError("background")

    with pytest.raises(ValueError, match="background"):
        async with g.Manager() as mgr:
            mgr.spawn(fail)
            await anyio.sleep_forever()


async def test_real_multi_errors_stay_a_group() -> None:
    started = anyio.Event()

    async def fail_on_cancel() -> None:
        try:
            started.set()
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            raise ValueError("cleanup failed") from None

    with pytest.raises(BaseExceptionGroup) as info:
        async with g.Manager() as mgr:
            mgr.spawn(fail_on_cancel)
            await started.wait()
            raise KeyError("body")
    kinds = sorted(type(e).__name__ for e in info.value.exceptions)
    assert kinds == ["KeyError", "ValueError"]


async def test_cancelling_the_block_from_outside_still_works() -> None:
    with anyio.CancelScope() as scope:
        async with g.Manager():
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    with anyio.move_on_after(0) as scope:
        async with test_configuration(2):
            await anyio.sleep_forever()
    assert scope.cancelled_caught


async def test_server_started_with_tg_start_on_a_busy_port_names_the_address() -> None:
    sock, port = _busy_port()
    with sock:
        with pytest.raises(OSError, match=f"127.0.0.1.*{port}"):
            async with TaskGroup() as tg:
                await tg.start(g.Server().serve_tcp, "127.0.0.1", port)
        with pytest.raises(OSError, match=str(port)):
            async with g.System(f"127.0.0.1:{port}"):
                pass


def test_sole_exception_flattens_nested_groups_only_when_one_leaf() -> None:
    err = KeyError("k")
    assert sole_exception(ExceptionGroup("a", [ExceptionGroup("b", [err])])) is err
    assert sole_exception(ExceptionGroup("a", [err, ExceptionGroup("b", [err])])) is err
    assert sole_exception(ExceptionGroup("a", [err, ValueError()])) is None
