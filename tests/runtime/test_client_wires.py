"""The client's choice of wire: Manager(wire=), node IDs per wire, errors across wires."""

from __future__ import annotations

import anyio
import pytest

import gorums_h2 as g
from gorums_h2.testing import (
    ECHO_QC,
    ECHO_RPC,
    Echo,
    EchoService,
    register_echo_service,
    test_servers,
)
from gorums_h2.wire import StatusCode, StatusError, WireServer
from gorums_h2.wire.server import ServerStream

pytestmark = pytest.mark.anyio

CAPTURE_RELAYS = ["127.0.0.1:29200", "127.0.0.1:29201", "127.0.0.1:29202"]


def _server_of(wires: str) -> g.Server:
    server = g.Server(wires=wires)
    register_echo_service(server, EchoService())
    return server


def test_wire_names_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown wire 'grpc'"):
        g.Manager(wire="grpc")
    with pytest.raises(ValueError, match="unknown wire"):
        g.Server(wires=["ordering", "v2"])
    with pytest.raises(ValueError, match="at least one wire"):
        g.Server(wires=[])
    assert g.Manager().wire.name == "ordering"  # v0.11, the released version, by default
    assert g.Manager(wire="stream").wire.path == "/stream.Gorums/NodeStream"


async def test_node_ids_follow_the_wire() -> None:
    async with g.Manager(wire="stream", backoff=g.Backoff(base_delay=30)) as mgr:
        # master's WithNodeList: 1, 2, 3 in list order (the capture's relays)
        cfg = mgr.new_configuration(g.with_node_list(CAPTURE_RELAYS))
        assert cfg.node_ids() == [1, 2, 3]
        assert [n.address for n in cfg.nodes()] == CAPTURE_RELAYS
        # known addresses keep their IDs; new ones continue after the largest
        more = mgr.new_configuration(g.with_node_list(
            ["127.0.0.1:29203", CAPTURE_RELAYS[1]]))
        assert sorted(more.node_ids()) == [2, 4]
        assert mgr.node(4).address == "127.0.0.1:29203"  # type: ignore[union-attr]
        mgr.close()
    async with g.Manager(backoff=g.Backoff(base_delay=30)) as mgr:
        cfg = mgr.new_configuration(g.with_node_list(CAPTURE_RELAYS))
        assert cfg.node_ids() == sorted([589287993, 572510374, 555732755])  # FNV-1a
        mgr.close()


@pytest.mark.parametrize(("client", "server"), [("stream", "ordering"), ("ordering", "stream")])
async def test_a_server_of_the_other_wire_gives_an_error_naming_it(client: str, server: str
                                                                    ) -> None:
    async with test_servers(1, lambda i: _server_of(server)) as servers, g.Manager(
            wire=client, backoff=g.Backoff(base_delay=30)) as mgr:
        node = mgr.new_configuration(g.with_node_list(servers.addresses)).nodes()[0]
        with pytest.raises(g.WireMismatchError) as info:
            await g.rpc_call(node.context(timeout=5), Echo(), ECHO_RPC, Echo)
        err = info.value
        assert err.code == StatusCode.UNIMPLEMENTED and err.wire == client
        assert f"Manager(wire={server!r})" in err.message
        with anyio.fail_after(5):
            await node.wait_disconnected()
        assert isinstance(node.last_err, g.WireMismatchError)
        # later calls fail at once with the same explanation
        with pytest.raises(g.WireMismatchError):
            await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
        mgr.close()


async def _go_v011_refusal(stream: ServerStream) -> None:
    raise StatusError(StatusCode.UNIMPLEMENTED, "unknown service stream.Gorums")


async def test_a_go_v011_server_refusing_the_stream_wire_is_explained() -> None:
    """Go v0.11 answers master's path with grpc-go's 'unknown service stream.Gorums'."""
    go_like = WireServer({"/stream.Gorums/NodeStream": _go_v011_refusal})
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(go_like.serve_tcp, "127.0.0.1", 0)
        async with g.Manager(wire="stream", backoff=g.Backoff(base_delay=30)) as mgr:
            node = mgr.new_configuration(g.with_node_list([f"{host}:{port}"])).nodes()[0]
            with pytest.raises(g.WireMismatchError) as info:
                await g.rpc_call(node.context(timeout=5), Echo(), ECHO_RPC, Echo)
            mgr.close()
        go_like.stop()
    assert "'ordering' wire (Go Gorums v0.11)" in info.value.message
    assert "server said: unknown service stream.Gorums" in info.value.message


async def test_one_server_serves_clients_of_both_wires_at_once() -> None:
    async with test_servers(2) as servers, g.Manager() as old, g.Manager(wire="stream") as new:
        for mgr in (old, new):
            cfg = mgr.new_configuration(g.with_node_list(servers.addresses))
            ctx = cfg.context(metadata={"k": "v"})
            reply = await g.quorum_call(ctx, Echo(value=mgr.wire.name), ECHO_QC, Echo).all()
            assert reply.value == mgr.wire.name
        async with g.new_config(g.with_node_list(servers.addresses), wire="stream") as cfg:
            assert cfg.manager is not None and cfg.manager.wire.name == "stream"
            assert cfg.node_ids() == [1, 2]
            assert (await g.quorum_call(cfg.context(), Echo(value="n"), ECHO_QC,
                                        Echo).all()).value == "n"
