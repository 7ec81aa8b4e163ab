"""The network-namespace lab on its own: hosts, links, partitions, cleanup (root only)."""

from __future__ import annotations

import subprocess
import sys

import anyio
import anyio.abc
import pytest

from gorums_h2.benchmark.procs import stop_process
from gorums_h2.testing.netns import NetLab, NetLabError, netns_unavailable
from gorums_h2.testing.serve import spawn_echo_servers

REASON = netns_unavailable()
needs_netns = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@needs_netns
@pytest.mark.anyio
async def test_partition_is_silent_for_the_other_side_and_heals() -> None:
    with NetLab() as lab, anyio.fail_after(30):
        a, b = lab.host("a"), lab.host("b")
        link = lab.link(a, b)
        with b.entered():
            listener = await anyio.create_tcp_listener(local_host=link.b_addr)
        async with listener, anyio.create_task_group() as tg:
            port = listener.extra(anyio.abc.SocketAttribute.local_port)

            async def echo(stream: anyio.abc.SocketStream) -> None:
                async with stream:
                    async for data in stream:
                        await stream.send(data)

            tg.start_soon(listener.serve, echo)
            with a.entered():
                conn = await anyio.connect_tcp(link.b_addr, port)
            # a host's sockets are in its namespace: the root namespace cannot reach b
            with pytest.raises(OSError):
                with anyio.fail_after(3):
                    await anyio.connect_tcp(link.b_addr, port)
            async with conn:
                await conn.send(b"hi")
                assert await conn.receive() == b"hi"
                link.down()
                await conn.send(b"lost?")  # accepted by the kernel: nothing fails
                with anyio.move_on_after(1) as silent:
                    await conn.receive()
                assert silent.cancelled_caught
                with anyio.move_on_after(1) as hangs, a.entered():
                    await anyio.connect_tcp(link.b_addr, port)
                assert hangs.cancelled_caught, "a new connection must hang, not fail"
                link.up()
                # TCP retransmits what the partition held back
                with anyio.fail_after(15):
                    assert await conn.receive() == b"lost?"
            tg.cancel_scope.cancel()
    assert lab._tag not in _namespaces()


@needs_netns
def test_processes_run_inside_hosts_and_everything_is_removed() -> None:
    with NetLab() as lab:
        a, b = lab.host("a"), lab.host("b")
        link = lab.link(a, b)
        proc, addrs = spawn_echo_servers([f"{link.b_addr}:0"],
                                         prefix=["ip", "netns", "exec", b.netns])
        try:
            assert addrs[0].startswith(link.b_addr + ":")
            out = a.run([sys.executable, "-c",
                         "import socket,sys; s=socket.create_connection("
                         f"('{link.b_addr}', {addrs[0].rsplit(':', 1)[1]}), 5); print('ok')"])
            assert out.stdout.strip() == "ok", out.stderr
            sleeper = b.popen([sys.executable, "-c", "import time; time.sleep(60)"])
            assert a.netns in _namespaces()
        finally:
            stop_process(proc)
        b.delete()
        assert sleeper.poll() is not None  # killed with its host
        assert b.netns not in _namespaces()
        with pytest.raises(NetLabError):
            lab.link(a, b)  # b is gone
    assert lab._tag not in _namespaces()


@needs_netns
def test_link_down_rejects_a_stranger() -> None:
    with NetLab() as lab:
        a, b, c = lab.host("a"), lab.host("b"), lab.host("c")
        link = lab.link(a, b)
        with pytest.raises(ValueError, match="not on this link"):
            link.down(at=c)


def test_the_reason_to_skip_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import gorums_h2.testing.netns as netns

    try:
        netns_unavailable.cache_clear()
        monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
        assert netns_unavailable() == "network namespaces need root (CI runs as root)"
        netns_unavailable.cache_clear()
        monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
        monkeypatch.setattr(netns.shutil, "which", lambda name: None)
        assert "iproute2" in (netns_unavailable() or "")
    finally:
        netns_unavailable.cache_clear()
