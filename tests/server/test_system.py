"""System (Go's NewSystem/RegisterService/Serve/Stop) and local_systems."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from _server_kit import WAIT, raw_node_stream

import gorums_h2 as g
from gorums_h2.testing import (
    ECHO_QC,
    ECHO_RPC,
    Echo,
    EchoService,
    assert_no_leaks,
    register_echo_service,
    task_count,
)
from gorums_h2.wire.errors import ConnectionBroken

pytestmark = pytest.mark.anyio


class SyncCloser:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def close(self) -> None:
        self.log.append(self.name)


class AsyncCloser(SyncCloser):
    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.log.append(self.name)


class FailingCloser(SyncCloser):
    def close(self) -> None:
        self.log.append(self.name)
        raise OSError(f"{self.name} failed to close")


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


async def test_system_serves_registered_services_and_stop_closes_the_closers() -> None:
    log: list[str] = []
    baseline = task_count()
    service = EchoService(3)
    async with g.System("127.0.0.1:0") as system:
        assert system.address.startswith("127.0.0.1:") and _split(system.address)[1] > 0
        system.register_service(SyncCloser("first", log),
                                lambda srv: register_echo_service(srv, service))
        system.register_service(AsyncCloser("second", log), lambda srv: None)
        system.register_service(None, lambda srv: None)  # nothing to close
        async with g.Manager() as mgr:
            node = mgr.new_configuration(g.with_node_list([system.address])).nodes()[0]
            reply = await g.rpc_call(node.context(), Echo(value="sys"), ECHO_RPC, Echo)
            assert (reply.value, reply.node_id) == ("sys", 3)
        assert log == []
    assert log == ["second", "first"]  # last registered, first closed
    await assert_no_leaks(baseline, servers=[system.server])


async def test_system_stop_is_a_hard_stop_for_connected_clients() -> None:
    log: list[str] = []
    async with g.System("127.0.0.1:0") as system:
        system.register_service(SyncCloser("mgr", log),
                                lambda srv: register_echo_service(srv, EchoService()))
        async with raw_node_stream(_split(system.address)) as raw:
            raw.send(1, ECHO_RPC, Echo(value="x"))
            assert (await raw.receive()).seq == 1
            await system.stop()
            assert log == ["mgr"]
            with pytest.raises(ConnectionBroken), anyio.fail_after(WAIT):
                await raw.receive()
        await system.stop()  # idempotent
    assert log == ["mgr"]


async def test_a_manager_registered_as_closer_is_closed_with_the_system() -> None:
    async with g.System("127.0.0.1:0") as peer, g.Manager() as mgr:
        peer.register_service(None, lambda srv: register_echo_service(srv, EchoService()))
        async with g.System("127.0.0.1:0") as system:
            system.register_service(mgr, lambda srv: None)
            node = mgr.new_configuration(g.with_node_list([peer.address])).nodes()[0]
            await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
        assert mgr.closed


async def test_system_passes_server_options_and_stops_gracefully() -> None:
    seen: list[str] = []

    async def interceptor(ctx: g.ServerCtx, req: g.Message[Any], nxt: g.Handler) -> Any:
        seen.append(req.method)
        return await nxt(ctx, req)

    log: list[str] = []
    async with g.System("127.0.0.1:0", interceptors=[interceptor]) as system:
        system.register_service(AsyncCloser("c", log),
                                lambda srv: register_echo_service(srv, EchoService()))
        async with g.Manager(backoff=g.Backoff(base_delay=60)) as mgr:
            node = mgr.new_configuration(g.with_node_list([system.address])).nodes()[0]
            await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
            with anyio.fail_after(WAIT):
                await system.graceful_stop()
                await node.wait_disconnected()
            assert isinstance(node.last_err, g.NodeShutdownError)
        assert log == ["c"]
    assert seen == [ECHO_RPC]


async def test_every_closer_is_closed_even_if_one_fails() -> None:
    log: list[str] = []
    baseline = task_count()
    with pytest.raises(OSError, match="bad failed to close"):
        async with g.System("127.0.0.1:0") as system:
            system.register_service(SyncCloser("a", log), lambda srv: None)
            system.register_service(FailingCloser("bad", log), lambda srv: None)
            system.register_service(AsyncCloser("c", log), lambda srv: None)
    assert log == ["c", "bad", "a"]
    await assert_no_leaks(baseline, servers=[system.server])
    # several failures: all of them, in a group
    log.clear()
    system = g.System("127.0.0.1:0")
    with pytest.raises(ExceptionGroup) as info:
        async with system:
            system.register_service(FailingCloser("x", log), lambda srv: None)
            system.register_service(FailingCloser("y", log), lambda srv: None)
    assert [str(e) for e in info.value.exceptions] == ["y failed to close", "x failed to close"]
    await assert_no_leaks(baseline, servers=[system.server])


async def test_a_closer_without_close_is_refused_at_registration() -> None:
    async with g.System("127.0.0.1:0") as system:
        with pytest.raises(TypeError, match="close"):
            system.register_service(object(), lambda srv: None)


def test_a_bad_address_is_refused() -> None:
    with pytest.raises(ValueError):
        g.System("127.0.0.1:notaport")


async def test_a_busy_port_fails_with_os_error_and_nothing_leaks() -> None:
    baseline = task_count()
    async with g.System("127.0.0.1:0") as system:
        with pytest.raises(OSError):
            async with g.System(system.address):
                pass
    await assert_no_leaks(baseline, servers=[system.server])


async def test_local_systems_start_n_servers_for_a_configuration() -> None:
    services = [EchoService(i) for i in range(3)]

    def register(i: int, server: g.Server) -> None:
        register_echo_service(server, services[i])

    baseline = task_count()
    async with g.local_systems(3, register) as systems:
        addresses = [s.address for s in systems]
        assert len(set(addresses)) == 3
        async with g.Manager() as mgr:
            cfg = mgr.new_configuration(g.with_node_map({a: i for i, a in enumerate(addresses)}))
            replies = await g.quorum_call(cfg.context(), Echo(value="q"), ECHO_QC, Echo
                                          ).collect_all()
        assert sorted(r.node_id for r in replies.values()) == [0, 1, 2]
    await assert_no_leaks(baseline, servers=[s.server for s in systems])
