"""Client fault tolerance over real TCP: a stalled node, a hanging first
connect, a black-holed node, grpc-go's PING policy, abandoned iterations.

The faulty node is a :class:`PolicyPeer` (raw h2, in this process) or a
listener whose accept queue is full; the healthy nodes are real servers.
Bounds on fault behaviour are generous (the machine is shared)."""

from __future__ import annotations

import gc
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest
from _policy_peer import PolicyPeer

import gorums_h2 as g
from gorums_h2.channel import SendQueueFull
from gorums_h2.testing import (
    ECHO_MULTICAST,
    ECHO_QC,
    ECHO_RPC,
    ECHO_UNICAST,
    STREAM_QC,
    Echo,
    pending_routes,
    test_configuration,
    test_servers,
)
from gorums_h2.wire import ConnectionBroken

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def peer_and_servers(peer: PolicyPeer, healthy: int, **manager_options: object
                           ) -> AsyncIterator[tuple[g.Configuration, g.Node]]:
    """A configuration of ``healthy`` echo servers plus ``peer``; yields it and the peer's node."""
    async with anyio.create_task_group() as tg, test_servers(healthy) as servers:
        port = await tg.start(peer.serve)
        addr = f"127.0.0.1:{port}"
        async with g.Manager(**manager_options) as mgr:  # type: ignore[arg-type]
            cfg = mgr.new_configuration(g.with_node_list([*servers.addresses, addr]))
            node = next(n for n in cfg.nodes() if n.port == port)
            with anyio.fail_after(5):
                for n in cfg.nodes():
                    await n.wait_connected()
            try:
                yield cfg, node
            finally:
                peer.set_mode("serve")
        tg.cancel_scope.cancel()


def qc(cfg: g.Configuration, timeout: float | None = 1.0, **kw: object) -> g.Responses[Echo]:
    return g.quorum_call(cfg.context(timeout=timeout), Echo(**kw),  # type: ignore[arg-type]
                         ECHO_QC, Echo)


# ---- 1. back-pressure only affects its node ----


async def test_a_stalled_node_fails_its_part_at_once_and_majority_calls_go_on() -> None:
    peer = PolicyPeer()
    settings = g.WireSettings(send_buffer_bytes=256 * 1024, peer_probe_after=None)
    async with peer_and_servers(peer, 2, wire_settings=settings) as (cfg, node):
        await qc(cfg).all()
        peer.set_mode("stall")
        payload = b"p" * 64 * 1024
        # fill the stalled node's socket and queue; every majority call succeeds meanwhile
        with anyio.fail_after(20):
            while not isinstance(node.channel.room_error(), SendQueueFull):
                start = time.monotonic()
                await qc(cfg, payload=payload).majority()
                assert time.monotonic() - start < 1.5
        # now the stalled node's part fails at once, the others answer
        start = time.monotonic()
        for _ in range(40):
            await qc(cfg, payload=payload).majority()
        assert time.monotonic() - start < 10  # 40 calls, not 40 timeouts
        start = time.monotonic()
        with pytest.raises(g.IncompleteError) as info:
            await qc(cfg).all()
        assert time.monotonic() - start < 0.5  # did not wait for the timeout
        err = info.value.node_errors[node.id]
        assert isinstance(err, SendQueueFull) and err.code == g.StatusCode.UNAVAILABLE
        assert f"node {node.address}: send queue full: " in err.message
        assert "iB unwritten for " in err.message and err.message.endswith(" s")
        assert list(info.value.node_errors) == [node.id]
        # multicast: fails that node only, without waiting
        with pytest.raises(g.SendFailureError) as sinfo:
            await g.multicast(cfg.context(), Echo(value="m"), ECHO_MULTICAST)
        assert list(sinfo.value.node_errors) == [node.id]
        await g.multicast(cfg.context(), Echo(value="m"), ECHO_MULTICAST, ignore_errors=True)
        # ordered RPC and unicast wait for room, but never past their timeout
        for call in (
            lambda: g.rpc_call(node.context(timeout=0.5), Echo(), ECHO_RPC, Echo),
            lambda: g.unicast(node.context(timeout=0.5), Echo(), ECHO_UNICAST),
        ):
            start = time.monotonic()
            with pytest.raises(g.StatusError) as sinfo2:
                await call()
            assert 0.4 < time.monotonic() - start < 1.5
            assert sinfo2.value.code == g.StatusCode.DEADLINE_EXCEEDED
            assert "no room to send within 0.5s: " in sinfo2.value.message
        with anyio.move_on_after(0.3) as scope:  # or past the caller's cancel scope
            await g.unicast(node.context(), Echo(), ECHO_UNICAST)
        assert scope.cancelled_caught
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]
        # the node drains again: it gets everything that was sent, in order (FIFO)
        peer.set_mode("serve")
        with anyio.fail_after(20):
            reply = await g.rpc_call(node.context(), Echo(value="back"), ECHO_RPC, Echo)
        assert reply.value == "back" and node.connected
        assert peer.stats.seqs == sorted(peer.stats.seqs)


async def test_ignore_errors_unicast_queues_beyond_the_limit() -> None:
    peer = PolicyPeer()
    settings = g.WireSettings(send_buffer_bytes=64 * 1024, peer_probe_after=None)
    async with peer_and_servers(peer, 0, wire_settings=settings) as (_, node):
        peer.set_mode("stall")
        for i in range(200):  # fire and forget: never waits, never raises
            await g.unicast(node.context(), Echo(num=i, payload=b"u" * 4096), ECHO_UNICAST,
                            ignore_errors=True)
        stream = node.channel.stream
        assert stream is not None and stream.queued - stream.written > 64 * 1024
        assert isinstance(node.channel.room_error(), SendQueueFull)
        peer.set_mode("serve")
        with anyio.fail_after(10):
            await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
        assert len(peer.stats.seqs) == 201 and peer.stats.seqs == sorted(peer.stats.seqs)


# ---- 2. every wait is bounded by the call ----


@asynccontextmanager
async def hanging_address() -> AsyncIterator[str]:
    """An address whose TCP connect hangs: a listener that never accepts,
    its accept queue already full (SYNs are dropped)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        addr = listener.getsockname()
        for _ in range(8):  # fill the accept queue and the SYN queue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            fillers.append(s)
            s.connect_ex(addr)
        await anyio.sleep(0.2)
        yield f"{addr[0]}:{addr[1]}"
    finally:
        for s in fillers:
            s.close()
        listener.close()


async def test_a_hanging_first_connect_holds_only_that_nodes_part() -> None:
    async with hanging_address() as hanging, test_servers(2) as servers, g.Manager() as mgr:
        cfg = mgr.new_configuration(g.with_node_list([*servers.addresses, hanging]))
        stuck = next(n for n in cfg.nodes() if n.address == hanging)
        start = time.monotonic()
        reply = await qc(cfg, value="a").majority()  # the two others answer
        assert reply.value == "a" and time.monotonic() - start < 1.5
        start = time.monotonic()
        with pytest.raises(g.IncompleteError) as info:
            await qc(cfg, timeout=1.0).all()
        assert time.monotonic() - start < 1.5  # the call's timeout, not connect_timeout
        err = info.value.node_errors[stuck.id]
        assert isinstance(err, g.StatusError) and err.code == g.StatusCode.DEADLINE_EXCEEDED
        assert list(info.value.node_errors) == [stuck.id]
        start = time.monotonic()
        with pytest.raises(g.StatusError) as rinfo:
            await g.rpc_call(stuck.context(timeout=0.5), Echo(), ECHO_RPC, Echo)
        assert rinfo.value.code == g.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - start < 1.0
        await g.multicast(cfg.context(), Echo(), ECHO_MULTICAST)  # held for that node
        await g.unicast(stuck.context(), Echo(), ECHO_UNICAST)  # held too: no wait
        assert time.monotonic() - start < 1.5
        assert not stuck.connected and pending_routes([mgr]) == 0


async def test_messages_held_during_the_first_connect_are_bounded() -> None:
    settings = g.WireSettings(send_buffer_bytes=64 * 1024)
    async with hanging_address() as hanging, g.Manager(wire_settings=settings) as mgr:
        cfg = mgr.new_configuration(g.with_node_list([hanging]))
        node = cfg.nodes()[0]
        for _ in range(8):  # 8 x 8 KiB fit (the limit is exceeded by the 8th)
            await g.multicast(cfg.context(), Echo(payload=b"h" * 8192), ECHO_MULTICAST)
        with pytest.raises(g.SendFailureError) as info:
            await g.multicast(cfg.context(), Echo(payload=b"h" * 8192), ECHO_MULTICAST)
        err = info.value.node_errors[node.id]
        assert isinstance(err, SendQueueFull)
        assert "KiB in 8 messages held while connecting for " in err.message
        # a call that may wait (ordered RPC) waits for room within its timeout
        with pytest.raises(g.StatusError) as rinfo:
            await g.rpc_call(node.context(timeout=0.3), Echo(), ECHO_RPC, Echo)
        assert rinfo.value.code == g.StatusCode.DEADLINE_EXCEEDED
        assert "no room to send within 0.3s" in rinfo.value.message


# ---- 5. deterministic cleanup ----


@pytest.mark.parametrize("intercepted", [False, True], ids=["plain", "interceptor"])
async def test_leaving_a_streaming_iteration_releases_its_routes_at_once(
        intercepted: bool) -> None:
    interceptors = [g.map_response(lambda r, n: r)] if intercepted else []
    gc.disable()  # prove that nothing here waits for the garbage collector
    try:
        async with test_configuration(3) as cfg:
            mgr = cfg.manager
            assert mgr is not None
            responses = g.quorum_call_stream(cfg.context(), Echo(value="s", num=150,
                                                                 delay_ms=1),
                                             STREAM_QC, Echo, interceptors=interceptors)
            got = 0
            async for _ in responses:
                got += 1
                if got == 5:
                    break
            assert pending_routes([mgr]) == 0  # at once, without gc.collect()
            await anyio.sleep(0.3)  # the servers keep streaming: nothing queues up
            assert not responses._call._queue
            # break out of a filtered iteration, and an explicit async with / aclose
            resp2 = g.quorum_call_stream(cfg.context(), Echo(num=150, delay_ms=1),
                                         STREAM_QC, Echo, interceptors=interceptors)
            async for _ in resp2.ignore_errors():
                break
            assert pending_routes([mgr]) == 0
            async with g.quorum_call_stream(cfg.context(), Echo(num=150, delay_ms=1),
                                            STREAM_QC, Echo,
                                            interceptors=interceptors) as resp3:
                it = resp3.__aiter__()
                await it.__anext__()
                assert pending_routes([mgr]) == 3
            assert pending_routes([mgr]) == 0
            del it
            resp4 = g.quorum_call_stream(cfg.context(), Echo(num=150, delay_ms=1),
                                         STREAM_QC, Echo, interceptors=interceptors)
            it4 = resp4.__aiter__()
            await it4.__anext__()
            await resp4.aclose()
            assert pending_routes([mgr]) == 0
            # an exception in the loop body releases them too
            with pytest.raises(RuntimeError):
                async for _ in g.quorum_call_stream(cfg.context(), Echo(num=150, delay_ms=1),
                                                    STREAM_QC, Echo, interceptors=interceptors):
                    raise RuntimeError("stop")
            assert pending_routes([mgr]) == 0
            with anyio.fail_after(20):  # behind the abandoned streams (ordered handlers)
                reply = await qc(cfg, value="after", timeout=None).all()
            assert reply.value == "after"
    finally:
        gc.enable()


async def test_a_closed_responses_sends_nothing() -> None:
    async with test_servers(3) as servers, g.Manager() as mgr:
        cfg = mgr.new_configuration(g.with_node_list(servers.addresses))
        responses = qc(cfg, timeout=None)
        await responses.aclose()
        with pytest.raises(g.IncompleteError):
            await responses.majority()
        await qc(cfg).all()
        assert [s.service.handled for s in servers.servers] == [1, 1, 1]  # type: ignore[attr-defined]
        assert pending_routes([mgr]) == 0


# ---- 3. dead-peer detection ----


async def test_a_black_holed_node_is_reported_by_the_probe_and_reconnects() -> None:
    # scaled probe settings (the defaults' 10 s bound is tests/faults/test_black_hole.py's)
    peer = PolicyPeer()
    settings = g.WireSettings(peer_probe_after=0.3, peer_probe_timeout=0.5)
    async with peer_and_servers(peer, 2, wire_settings=settings,
                                backoff=g.Backoff(base_delay=0.5)) as (cfg, node):
        await qc(cfg).all()
        pending: list[BaseException] = []

        async def waiting_rpc() -> None:
            try:
                await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
            except g.StatusError as exc:
                pending.append(exc)

        async with anyio.create_task_group() as tg:
            peer.set_mode("blackhole")
            start = time.monotonic()
            tg.start_soon(waiting_rpc)
            # majority calls keep working meanwhile
            await qc(cfg).majority()
            with anyio.fail_after(10):
                await node.wait_disconnected()
            detected = time.monotonic() - start
        assert detected < 0.3 + 0.5 + 3.0  # threshold + ACK timeout + a shared machine
        err = node.last_err
        assert isinstance(err, ConnectionBroken)
        assert "no PING ACK within 0.5 s, replies outstanding for " in err.message
        assert len(pending) == 1 and pending[0] is err  # the pending call failed with it
        assert pending_routes([cfg.manager]) == 0  # type: ignore[list-item]
        # the node reconnects with backoff once it answers again
        peer.set_mode("serve")
        with anyio.fail_after(10):
            await node.wait_connected()
        assert (await g.rpc_call(node.context(), Echo(value="r"), ECHO_RPC, Echo)).value == "r"


async def test_pings_of_a_slow_server_never_draw_too_many_pings() -> None:
    # every reply takes 0.6 s, far longer than the probe threshold (0.1 s)
    peer = PolicyPeer(reply_delay=0.6)
    settings = g.WireSettings(peer_probe_after=0.1, peer_probe_timeout=2.0)
    async with peer_and_servers(peer, 0, wire_settings=settings) as (_, node):
        for i in range(4):
            reply = await g.rpc_call(node.context(), Echo(num=i), ECHO_RPC, Echo)
            assert reply.num == i
        # one long wait with no reply: one PING, not one per threshold
        peer.reply_delay = 1.5
        await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
        stats = peer.stats
        # one PING per slow call, plus at most the one spare PING between replies
        assert 5 <= stats.pings <= 10
        assert stats.max_strikes <= 1 and not stats.too_many_pings
        assert node.connected and stats.connections == 1


async def test_a_peer_silent_right_after_answering_a_ping_is_still_detected() -> None:
    # the gap: the server ACKed a PING and sent no reply since, so a further PING
    # may be a grpc-go strike; the probe spends its one spare PING on it
    peer = PolicyPeer(reply_delay=30.0)
    settings = g.WireSettings(peer_probe_after=0.2, peer_probe_timeout=0.5)
    async with peer_and_servers(peer, 0, wire_settings=settings,
                                backoff=g.Backoff(base_delay=30)) as (_, node):
        failed: list[BaseException] = []

        async def slow_call() -> None:
            try:
                await g.rpc_call(node.context(), Echo(), ECHO_RPC, Echo)
            except g.StatusError as exc:
                failed.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow_call)
            with anyio.fail_after(5):
                while peer.stats.pings < 1:  # noqa: ASYNC110 (the peer task's counter)
                    await anyio.sleep(0.02)
            peer.set_mode("blackhole")
            start = anyio.current_time()
            with anyio.fail_after(5):
                await node.wait_disconnected()
            detected = anyio.current_time() - start
        assert detected < 0.2 + 0.5 + 1.0  # threshold + ACK timeout + ticks
        assert isinstance(node.last_err, ConnectionBroken)
        assert "no PING ACK within 0.5 s" in node.last_err.message
        assert len(failed) == 1 and failed[0] is node.last_err
        assert peer.stats.max_strikes <= 1 and not peer.stats.too_many_pings


async def test_the_policy_peer_punishes_careless_pings() -> None:
    # the check above can fail: a client that PINGs without data in between is cut off
    from gorums_h2.wire import GoAwayError, connect

    peer = PolicyPeer()
    async with anyio.create_task_group() as tg:
        port = await tg.start(peer.serve)
        with anyio.fail_after(5):
            async with connect("127.0.0.1", port) as conn:
                await conn.open_stream("/ordering.Gorums/NodeStream", subtype="gorums")
                with pytest.raises((GoAwayError, ConnectionBroken)):
                    for _ in range(10):
                        await conn.ping()
        assert peer.stats.too_many_pings and peer.stats.max_strikes == 3
        tg.cancel_scope.cancel()


async def test_a_stalled_node_with_undrained_writes_is_broken_by_the_probe() -> None:
    peer = PolicyPeer()
    settings = g.WireSettings(peer_probe_after=0.3, peer_probe_timeout=0.5)
    async with peer_and_servers(peer, 0, wire_settings=settings,
                                backoff=g.Backoff(base_delay=30)) as (_, node):
        peer.set_mode("stall")
        for _ in range(300):  # one-way: nothing outstanding but the writes
            await g.unicast(node.context(), Echo(payload=b"w" * 65536), ECHO_UNICAST,
                            ignore_errors=True)
        with anyio.fail_after(5):
            await node.wait_disconnected()
        err = node.last_err
        assert isinstance(err, ConnectionBroken)
        assert "no PING ACK within 0.5 s, writes not drained for " in err.message


async def test_send_buffer_size_never_fails_a_call_and_never_waits_for_a_stalled_node() -> None:
    peer = PolicyPeer()
    settings = g.WireSettings(send_buffer_bytes=128 * 1024, peer_probe_after=None)
    async with peer_and_servers(peer, 2, wire_settings=settings,
                                send_buffer_size=1) as (cfg, node):
        # healthy: many concurrent calls beyond the message limit all succeed
        failures: list[BaseException] = []

        async def call(i: int) -> None:
            try:
                assert (await qc(cfg, num=i).all()).num == i
            except Exception as exc:  # pragma: no cover - reported below
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(call, i)
            for i in range(20):
                await g.multicast(cfg.context(), Echo(num=i), ECHO_MULTICAST)
                fut = qc(cfg, num=i).async_majority()
                assert (await fut).num == i
        assert failures == []
        # stalled: majority calls go on, waiting for it at most briefly
        peer.set_mode("stall")
        start = time.monotonic()
        with anyio.fail_after(20):
            while not isinstance(node.channel.room_error(), SendQueueFull):
                await qc(cfg, payload=b"s" * 16384).majority()
        for _ in range(20):
            await qc(cfg).majority()
        with pytest.raises(g.IncompleteError) as info:
            await qc(cfg).all()
        assert isinstance(info.value.node_errors[node.id], SendQueueFull)
        assert time.monotonic() - start < 10
        # an ordered RPC waits for the message limit too, bounded by its timeout
        with pytest.raises(g.StatusError) as rinfo:
            await g.rpc_call(node.context(timeout=0.3), Echo(), ECHO_RPC, Echo)
        assert rinfo.value.code == g.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_a_silent_acceptor_never_holds_a_call_past_its_timeout(
        tls: bool, tmp_path: Path) -> None:
    # accepts TCP, then says nothing: no TLS handshake, no HTTP/2 SETTINGS
    from _certs import self_signed_cert

    from gorums_h2.wire import client_ssl_context

    ssl_context = None
    if tls:
        cert, _ = self_signed_cert(tmp_path)
        ssl_context = client_ssl_context(str(cert))
    accepted: list[object] = []

    async def silent(sock: object) -> None:
        accepted.append(sock)
        await anyio.sleep(30)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, silent)
        async with g.Manager(ssl_context=ssl_context, server_hostname="localhost") as mgr:
            cfg = mgr.new_configuration(g.with_node_list([f"127.0.0.1:{port}"]))
            node = cfg.nodes()[0]
            for call in (
                lambda: qc(cfg, timeout=0.5).all(),
                lambda: g.rpc_call(node.context(timeout=0.5), Echo(), ECHO_RPC, Echo),
            ):
                start = time.monotonic()
                with pytest.raises((g.IncompleteError, g.StatusError)):
                    await call()
                assert time.monotonic() - start < 1.0
            assert accepted and pending_routes([mgr]) == 0
        tg.cancel_scope.cancel()
