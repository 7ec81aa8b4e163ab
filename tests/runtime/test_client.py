"""Client runtime over real TCP: Manager, Configuration, Node, channels, one-way calls, RPC."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import anyio
import pytest

import gorums_h2 as g
from gorums_h2.quorumcall import QuorumCallState
from gorums_h2.testing import (
    ECHO_MULTICAST,
    ECHO_QC,
    ECHO_RPC,
    ECHO_UNICAST,
    Echo,
    EchoService,
    StopFunc,
    echo_server_fn,
    pending_routes,
    test_configuration,
    test_servers,
)

pytestmark = pytest.mark.anyio

GO_IDS = {"127.0.0.1:29200": 589287993, "127.0.0.1:29201": 572510374, "127.0.0.1:29202": 555732755}


def service(cfg: g.Configuration, servers: list[g.Server], index: int) -> EchoService:
    return servers[index].service  # type: ignore[attr-defined, no-any-return]


# ---- node IDs, manager, configuration ----


def test_node_ids_equal_go_ids_of_the_capture() -> None:
    for address, go_id in GO_IDS.items():
        assert g.node_id_for(address) == go_id
    assert g.node_id_for("localhost:29200") == GO_IDS["127.0.0.1:29200"]
    with pytest.raises(ValueError):
        g.node_id_for("no-port")
    with pytest.raises(ValueError):
        g.node_id_for("127.0.0.1:99999")


async def test_manager_nodes_and_configuration_derivations() -> None:
    async with test_servers(4) as servers, g.Manager() as mgr:
        addrs = servers.addresses
        cfg = mgr.new_configuration(g.with_node_list(addrs[:3]))
        assert cfg.node_ids() == sorted(g.node_id_for(a) for a in addrs[:3])  # ordered by ID
        assert mgr.node_ids() == [g.node_id_for(a) for a in addrs[:3]]  # insertion order
        assert mgr.size() == 3 and cfg.size() == 3 and len(cfg) == 3
        assert cfg.manager is mgr and all(mgr.node(i) is not None for i in cfg.node_ids())
        # the same addresses give the same nodes
        again = mgr.new_configuration(g.with_node_list(reversed(addrs[:3])))
        assert again == cfg and mgr.size() == 3
        bigger = mgr.new_configuration(cfg.with_new_nodes(g.with_node_list(addrs[3:])))
        assert bigger.size() == 4
        assert mgr.new_configuration(bigger.except_(cfg)).node_ids() == [g.node_id_for(addrs[3])]
        assert mgr.new_configuration(cfg.and_(bigger)) == bigger
        first = cfg.node_ids()[0]
        assert first not in mgr.new_configuration(cfg.without_nodes(first)).node_ids()
        assert mgr.new_configuration(g.with_node_ids([first])).node_ids() == [first]
        assert (cfg | bigger) == bigger and (bigger - cfg).size() == 1
        assert (bigger & cfg) == cfg
        assert first in cfg and cfg.node(first) in cfg
        with pytest.raises(KeyError):
            mgr.new_configuration(g.with_node_ids([12345]))
        with pytest.raises(ValueError):  # an address that already has another ID
            mgr.new_configuration(g.with_node_map({addrs[0]: 7}))
        mapped = mgr.new_configuration(g.with_node_map({"127.0.0.1:1": 7}))
        assert mapped.node_ids() == [7]
        with pytest.raises(ValueError):  # an ID already used for another address
            mgr.new_configuration(g.with_node_map({"127.0.0.1:2": 7}))
    with pytest.raises(RuntimeError):
        mgr.new_configuration(g.with_node_list(addrs))


async def test_without_errors_filters_by_code_and_class() -> None:
    async with test_configuration(3) as cfg:
        a, b, c = cfg.node_ids()
        err = g.IncompleteError({a: g.StatusError(g.StatusCode.UNAVAILABLE, "down"),
                                 b: g.StatusError(g.StatusCode.INTERNAL, "bug")})
        mgr = cfg.manager
        assert mgr is not None
        assert mgr.new_configuration(cfg.without_errors(err)).node_ids() == [c]
        assert mgr.new_configuration(
            cfg.without_errors(err, g.StatusCode.UNAVAILABLE)).node_ids() == [b, c]
        assert mgr.new_configuration(cfg.without_errors(err, g.StatusError)).node_ids() == [c]
        assert mgr.new_configuration(
            cfg.without_errors(err, g.NodeShutdownError)).node_ids() == [a, b, c]


async def test_new_config_creates_and_closes_its_manager() -> None:
    async with test_servers(2) as servers:
        async with g.new_config(g.with_node_list(servers.addresses)) as cfg:
            reply = await g.quorum_call(cfg.context(), Echo(value="nc"), ECHO_QC, Echo).all()
            assert reply.value == "nc"
            mgr = cfg.manager
        assert mgr is not None and mgr.closed


# ---- nodes ----


async def test_node_attributes_latency_last_err_and_sorting() -> None:
    stop = StopFunc()
    async with test_configuration(3, stop_func=stop, backoff=g.Backoff(base_delay=30)) as cfg:
        node = cfg.nodes()[1]
        assert node.id == 1 and node.host == "127.0.0.1" and node.port > 0
        assert node.address == f"127.0.0.1:{node.port}" and str(node) == f"addr: {node.address}"
        assert node.latency is None
        await g.quorum_call(cfg.context(), Echo(), ECHO_QC, Echo).all()
        assert node.latency is not None and node.latency > 0
        assert f"node 1 | addr: {node.address} | latency:" in node.full_string()
        assert node.last_err is None
        stop(1)
        with anyio.fail_after(5):
            await node.wait_disconnected()
        assert isinstance(node.last_err, g.StatusError)
        assert [n.id for n in g.ordered_by(g.by_last_error, g.by_id)(cfg.nodes())] == [0, 2, 1]
        by_port = g.ordered_by(g.by_port)(cfg.nodes())
        assert [n.port for n in by_port] == sorted(n.port for n in cfg.nodes())
        with pytest.raises(ValueError):
            g.ordered_by()


async def test_restarted_server_is_reconnected_without_user_action() -> None:
    async with anyio.create_task_group() as tg:
        first = echo_server_fn(0)
        host, port = await tg.start(first.serve_tcp, "127.0.0.1", 0)
        backoff = g.Backoff(base_delay=0.05, max_delay=0.2)
        async with g.Manager(backoff=backoff) as mgr:
            cfg = mgr.new_configuration(g.with_node_list([f"{host}:{port}"]))
            node = cfg.nodes()[0]
            assert (await g.rpc_call(node.context(), Echo(value="a"), ECHO_RPC, Echo)).value == "a"
            first.stop()
            with anyio.fail_after(5):
                await node.wait_disconnected()
            with pytest.raises(g.StatusError) as info:
                await g.rpc_call(node.context(), Echo(value="b"), ECHO_RPC, Echo)
            assert info.value.code == g.StatusCode.UNAVAILABLE  # fails fast while down
            second = echo_server_fn(0)
            await tg.start(second.serve_tcp, host, port)
            with anyio.fail_after(10):
                await node.wait_connected()
            assert (await g.rpc_call(node.context(), Echo(value="c"), ECHO_RPC, Echo)).value == "c"
            assert node.last_err is None
            second.stop()
        tg.cancel_scope.cancel()


async def test_node_that_never_came_up_fails_fast() -> None:
    async with g.Manager(backoff=g.Backoff(base_delay=30)) as mgr:
        cfg = mgr.new_configuration(g.with_node_list(["127.0.0.1:1"]))
        node = cfg.nodes()[0]
        with anyio.fail_after(5), pytest.raises(g.StatusError) as info:
            await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
        assert info.value.code == g.StatusCode.UNAVAILABLE
        with anyio.fail_after(1), pytest.raises(g.StatusError):
            await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
        with pytest.raises(g.IncompleteError):
            await g.quorum_call(cfg.context(), Echo(), ECHO_QC, Echo).first()


# ---- FIFO, metadata, timeouts ----


async def test_fifo_order_of_1000_calls_from_one_task_at_each_server(wire: str) -> None:
    async with test_servers(3) as servers, g.Manager(wire=wire) as mgr:
        cfg = mgr.new_configuration(g.with_node_list(servers.addresses))
        futures = [g.quorum_call(cfg.context(), Echo(num=i), ECHO_QC, Echo).async_all()
                   for i in range(500)]
        for i in range(500, 1000):
            await g.multicast(cfg.context(), Echo(num=i), ECHO_MULTICAST)
        for f in futures:
            await f
        for server in servers.servers:
            svc: EchoService = server.service  # type: ignore[attr-defined]
            assert [m.num for m in svc.received] == list(range(500, 1000))
            assert svc.handled == 1000


async def test_stream_and_call_metadata_reach_the_server(wire: str) -> None:
    seen: list[dict[str, object]] = []

    def srv_fn(i: int) -> g.Server:
        server = g.Server()

        async def echo(ctx: g.ServerCtx, req: Echo) -> Echo:
            seen.append(dict(ctx.metadata))
            return req

        server.register_handler(ECHO_RPC, g.unary_handler(echo))
        return server

    async with test_configuration(
        1, srv_fn, metadata={"client-name": "py", "blob-bin": b"\x00\x01"},
        per_node_metadata=lambda nid: {"node-id": str(nid)}, wire=wire,
    ) as cfg:
        node = cfg.nodes()[0]
        await g.rpc_call(node.context(metadata={"msg-step": "7"}), Echo(), ECHO_RPC, Echo)
    md = seen[0]
    assert md["client-name"] == "py" and md["blob-bin"] == b"\x00\x01"
    assert md["node-id"] == "0" and md["msg-step"] == "7"
    assert md["content-type"] == {"ordering": "application/grpc+gorums",
                                  "stream": "application/grpc"}[wire]


async def test_rpc_timeout_and_cancel_leave_no_route(wire: str) -> None:
    async with test_configuration(1, wire=wire) as cfg:
        node = cfg.nodes()[0]
        with pytest.raises(g.StatusError) as info:
            await g.rpc_call(node.context(timeout=0.05), Echo(delay_ms=500), ECHO_RPC, Echo)
        assert info.value.code == g.StatusCode.DEADLINE_EXCEEDED
        with anyio.move_on_after(0.05):
            await g.rpc_call(node.context(), Echo(delay_ms=500), ECHO_RPC, Echo)
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]
        assert (await g.rpc_call(node.context(), Echo(value="ok"), ECHO_RPC, Echo)).value == "ok"
        with pytest.raises(ValueError):
            node.context(timeout=0)


async def test_many_cancelled_and_timed_out_calls_leave_nothing_behind() -> None:
    async with test_configuration(1) as cfg:
        ctx = cfg.context(timeout=0.001)
        for _ in range(2_000):
            with anyio.move_on_after(0):
                await g.quorum_call(cfg.context(), Echo(), ECHO_QC, Echo).majority()
        for _ in range(20):
            with pytest.raises(g.IncompleteError):
                await g.quorum_call(ctx, Echo(delay_ms=20), ECHO_QC, Echo).all()
        gc.collect()
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]
        # at most the last cancelled call survives, through the traceback of
        # the most recent exception; 2,000 would mean a leak
        assert len([o for o in gc.get_objects() if isinstance(o, QuorumCallState)]) <= 1
        reply = await g.quorum_call(cfg.context(), Echo(value="z"), ECHO_QC, Echo).all()
        assert reply.value == "z"


# ---- one-way calls ----


async def test_unicast_and_multicast_deliver_and_report_send_failures(wire: str) -> None:
    stop = StopFunc()
    async with test_configuration(3, stop_func=stop, backoff=g.Backoff(base_delay=30),
                                  wire=wire) as cfg:
        node = cfg.nodes()[0]
        await g.unicast(node.context(), Echo(value="u"), ECHO_UNICAST)
        await g.multicast(cfg.context(), Echo(value="m"), ECHO_MULTICAST)
        await g.unicast(node.context(), Echo(value="ignored"), ECHO_UNICAST, ignore_errors=True)
        await g.quorum_call(cfg.context(), Echo(), ECHO_QC, Echo).all()  # FIFO: all arrived
        stop(2)
        with anyio.fail_after(5):
            await cfg.nodes()[2].wait_disconnected()
        with pytest.raises(g.SendFailureError) as info:
            await g.multicast(cfg.context(), Echo(value="m2"), ECHO_MULTICAST)
        assert list(info.value.node_errors) == [2] and info.value.cause is g.SendFailureError
        await g.multicast(cfg.context(), Echo(value="m3"), ECHO_MULTICAST, ignore_errors=True)
        with pytest.raises(g.StatusError):
            await g.unicast(cfg.nodes()[2].context(), Echo(), ECHO_UNICAST)
        await g.unicast(cfg.nodes()[2].context(), Echo(), ECHO_UNICAST, ignore_errors=True)


async def test_send_buffer_size_bounds_the_queue_and_keeps_order() -> None:
    async with test_servers(1) as servers, g.Manager(send_buffer_size=2) as mgr:
        cfg = mgr.new_configuration(g.with_node_list(servers.addresses))
        node = cfg.nodes()[0]
        for i in range(300):
            await g.unicast(node.context(), Echo(num=i), ECHO_UNICAST, ignore_errors=i % 2 == 0)
        await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
        svc: EchoService = servers.servers[0].service  # type: ignore[attr-defined]
        assert [m.num for m in svc.received] == list(range(300))
    with pytest.raises(ValueError):
        g.Manager(send_buffer_size=-1)


# ---- manager lifecycle, logging, TLS ----


async def test_closing_the_manager_fails_pending_calls_with_connection_closed() -> None:
    async with test_servers(1) as servers:
        failure: list[BaseException] = []
        async with g.Manager() as mgr:
            cfg = mgr.new_configuration(g.with_node_list(servers.addresses))
            node = cfg.nodes()[0]
            fut = g.quorum_call(cfg.context(), Echo(delay_ms=2000), ECHO_QC, Echo).async_all()

            async def call() -> None:
                try:
                    await g.rpc_call(node.context(), Echo(delay_ms=2000), ECHO_RPC, Echo)
                except g.StatusError as exc:
                    failure.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await anyio.sleep(0.1)
                mgr.close()
        assert len(failure) == 1 and failure[0].code == g.StatusCode.CANCELLED
        assert fut.done()
        with pytest.raises((g.StatusError, g.QuorumCallError)):
            await fut


async def test_logger_receives_connection_errors(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.gorums.manager")
    caplog.set_level(logging.DEBUG, logger="test.gorums.manager")
    async with g.Manager(logger=logger, backoff=g.Backoff(base_delay=30)) as mgr:
        cfg = mgr.new_configuration(g.with_node_list(["127.0.0.1:1"]))
        with anyio.fail_after(5):
            await cfg.nodes()[0].channel.wait_ready()
    assert any("127.0.0.1:1" in r.getMessage() for r in caplog.records)


async def test_tls_between_manager_and_server(tmp_path: Path) -> None:
    from _certs import self_signed_cert

    from gorums_h2.wire import client_ssl_context, server_ssl_context

    cert, key = self_signed_cert(tmp_path)
    server_ctx = server_ssl_context(str(cert), str(key))
    client_ctx = client_ssl_context(str(cert))

    def srv_fn(i: int) -> g.Server:
        server = g.Server(ssl_context=server_ctx)
        from gorums_h2.testing import register_echo_service

        register_echo_service(server, EchoService(i))
        return server

    async with test_configuration(2, srv_fn, ssl_context=client_ctx,
                                  server_hostname="localhost") as cfg:
        reply = await g.quorum_call(cfg.context(), Echo(value="tls"), ECHO_QC, Echo).all()
        assert reply.value == "tls"


# ---- messages and errors ----


def test_message_helpers_and_quorum_call_error() -> None:
    from gorums_h2.testing import quorum_call_error

    md = g.Envelope(3, ECHO_QC, entries=[("k", "v")])
    req = g.new_request_message(md, Echo(value="r"))
    assert (req.seq_no, req.method, req.entries) == (3, ECHO_QC, [("k", "v")])
    resp = g.new_response_message(req, Echo(value="s"))
    assert resp.seq_no == 3 and g.as_proto(resp, Echo).value == "s"
    assert g.as_proto(None, Echo) == Echo()
    with pytest.raises(g.TypeMismatchError):
        g.as_proto(resp, g.Envelope)  # type: ignore[type-var]
    err = quorum_call_error({2: g.StatusError(g.StatusCode.UNAVAILABLE, "x"), 1: ValueError("y")})
    assert isinstance(err, g.IncompleteError) and err.cause is g.IncompleteError
    assert [e.node_id for e in err.errors] == [1, 2]
    assert "incomplete call" in str(err) and "node 2: UNAVAILABLE: x" in str(err)
    send = quorum_call_error({}, g.SendFailureError)
    assert isinstance(send, g.QuorumCallError) and not isinstance(send, g.IncompleteError)


async def test_host_names_resolve_off_the_event_loop_with_the_same_ids() -> None:
    async with test_servers(1) as servers:
        port = servers.addresses[0].rsplit(":", 1)[1]
        by_name = g.with_node_list([f"localhost:{port}"])
        resolved = await by_name.resolved()
        async with g.Manager() as mgr:
            [node] = mgr.new_configuration(resolved).nodes()
            assert node.host in ("127.0.0.1", "::1")
            assert node.id == g.node_id_for(f"localhost:{port}")
            # the synchronous path gives the same node
            assert mgr.new_configuration(by_name).nodes() == [node]
        mapped = await g.with_node_map({f"localhost:{port}": 7}).resolved()
        async with g.new_config(mapped) as cfg:
            assert cfg.node_ids() == [7]
