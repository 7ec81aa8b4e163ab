"""The fault proxy on its own: a raw TCP echo target behind it, every fault, both loops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
from _kit import eventually

from gorums_h2.testing import Direction, FaultProxy

pytestmark = pytest.mark.anyio


class EchoTarget:
    """A TCP server that echoes and records what it received per connection."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.eof = anyio.Event()
        self.port = 0


@asynccontextmanager
async def echo_target() -> AsyncIterator[EchoTarget]:
    target = EchoTarget()

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                async for data in stream:
                    target.received += data
                    await stream.send(data)
            except anyio.BrokenResourceError:
                return
            target.eof.set()

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener, \
            anyio.create_task_group() as tg:
        target.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.start_soon(listener.serve, handle)
        yield target
        tg.cancel_scope.cancel()


@asynccontextmanager
async def proxied(**options: object) -> AsyncIterator[tuple[EchoTarget, FaultProxy]]:
    async with echo_target() as target, \
            FaultProxy(("127.0.0.1", target.port), **options) as proxy:  # type: ignore[arg-type]
        yield target, proxy


async def connect(proxy: FaultProxy) -> anyio.abc.SocketStream:
    return await anyio.connect_tcp(proxy.host, proxy.port)


async def receive_exactly(stream: anyio.abc.SocketStream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        buf += await stream.receive()
    return bytes(buf)


async def nothing_arrives(stream: anyio.abc.SocketStream, seconds: float = 0.3) -> bool:
    with anyio.move_on_after(seconds):
        await stream.receive()
        return False
    return True


async def test_passes_bytes_both_ways_and_counts_them() -> None:
    with anyio.fail_after(10):
        async with proxied() as (_, proxy), await connect(proxy) as conn:
            await conn.send(b"hello")
            assert await receive_exactly(conn, 5) == b"hello"
            assert proxy.forwarded(Direction.TO_TARGET) == 5
            # counted once the write returned: the client may have the bytes first
            await eventually(lambda: proxy.forwarded(Direction.TO_CLIENT) == 5)
            assert proxy.forwarded() == 10
            assert proxy.open_connections == 1
            assert proxy.accepted == 1
            assert proxy.address == f"127.0.0.1:{proxy.port}"


async def test_delay_adds_latency_each_way_and_jitter_never_reorders() -> None:
    with anyio.fail_after(10):
        async with proxied() as (_, proxy), await connect(proxy) as conn:
            proxy.delay(0.1)
            start = anyio.current_time()
            await conn.send(b"x")
            await receive_exactly(conn, 1)
            assert anyio.current_time() - start >= 0.2  # 0.1 there, 0.1 back
            proxy.delay(0.0, jitter=0.02)
            sent = b"".join(b"%04d" % i for i in range(200))
            for i in range(0, len(sent), 4):
                await conn.send(sent[i:i + 4])
                await anyio.lowlevel.checkpoint()
            assert await receive_exactly(conn, len(sent)) == sent


async def test_stall_keeps_bytes_until_heal_and_pushes_back_on_the_sender() -> None:
    with anyio.fail_after(20):
        async with proxied(buffer_bytes=65536) as (target, proxy), \
                await connect(proxy) as conn:
            proxy.stall()
            await conn.send(b"kept")
            assert await nothing_arrives(conn)
            assert target.received == b""
            # the sender's writes block once the proxy's buffer and the kernel's are full
            sent = 4
            with anyio.move_on_after(2):
                for _ in range(4096):  # at most 256 MiB: far more than any socket buffer
                    await conn.send(b"y" * 65536)
                    sent += 65536
            assert sent < 4 + 4096 * 65536, "a stalled proxy must not take bytes without bound"
            proxy.heal()
            # everything sent arrives, in order (the interrupted send may have written part)
            echoed = await receive_exactly(conn, sent)
            with anyio.move_on_after(0.5):
                while True:
                    echoed += await conn.receive()
            assert len(echoed) <= sent + 65536
            assert echoed.startswith(b"kept") and set(echoed[4:]) == {ord("y")}
            assert proxy.dropped() == 0


async def test_stall_of_one_direction_lets_the_other_through() -> None:
    with anyio.fail_after(10):
        async with proxied() as (target, proxy), await connect(proxy) as conn:
            proxy.stall(Direction.TO_CLIENT)
            await conn.send(b"one-way")
            await eventually(lambda: target.received == b"one-way")
            assert await nothing_arrives(conn)
            proxy.heal(Direction.TO_CLIENT)
            assert await receive_exactly(conn, 7) == b"one-way"


async def test_black_hole_drops_everything_and_keeps_the_socket_open() -> None:
    with anyio.fail_after(10):
        async with proxied() as (target, proxy), await connect(proxy) as conn:
            proxy.black_hole()
            for _ in range(10):
                await conn.send(b"z" * 1000)  # writes succeed: nothing pushes back
            assert await nothing_arrives(conn)  # no data, and no EOF or reset either
            assert target.received == b""
            await eventually(lambda: proxy.dropped(Direction.TO_TARGET) >= 10_000)
            assert proxy.open_connections == 1
            proxy.heal()
            await conn.send(b"after")
            assert await receive_exactly(conn, 5) == b"after"


async def test_black_hole_applies_to_new_connections_too() -> None:
    with anyio.fail_after(10):
        async with proxied() as (target, proxy):
            proxy.black_hole(Direction.TO_CLIENT)
            async with await connect(proxy) as conn:
                await conn.send(b"q")
                assert await nothing_arrives(conn)
                assert target.received == b"q"


async def test_reset_aborts_with_rst_on_both_sides() -> None:
    with anyio.fail_after(10):
        async with proxied() as (target, proxy), await connect(proxy) as conn:
            await conn.send(b"a")
            await receive_exactly(conn, 1)
            proxy.reset()
            with pytest.raises(anyio.BrokenResourceError) as info:
                await conn.receive()
            assert isinstance(info.value.__cause__, ConnectionResetError)
            await eventually(lambda: proxy.open_connections == 0)
            assert not target.eof.is_set()  # the target saw a reset, not an orderly close


async def test_cut_closes_with_fin() -> None:
    with anyio.fail_after(10):
        async with proxied() as (target, proxy), await connect(proxy) as conn:
            await conn.send(b"a")
            await receive_exactly(conn, 1)
            proxy.cut()
            with pytest.raises(anyio.EndOfStream):
                await conn.receive()
            await target.eof.wait()


async def test_half_close_is_passed_on() -> None:
    with anyio.fail_after(10):
        async with proxied() as (target, proxy), await connect(proxy) as conn:
            await conn.send(b"bye")
            await conn.send_eof()
            await target.eof.wait()
            assert await receive_exactly(conn, 3) == b"bye"


async def test_refuse_resets_new_connections_until_heal() -> None:
    with anyio.fail_after(10):
        async with proxied() as (_, proxy):
            proxy.refuse()
            async with await connect(proxy) as conn:
                with pytest.raises((anyio.BrokenResourceError, anyio.EndOfStream)):
                    await conn.send(b"x")
                    await conn.receive()
            proxy.heal()
            async with await connect(proxy) as conn:
                await conn.send(b"ok")
                assert await receive_exactly(conn, 2) == b"ok"


async def test_unreachable_target_resets_the_client() -> None:
    with anyio.fail_after(10):
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as gone:
            port = gone.extra(anyio.abc.SocketAttribute.local_port)
        async with FaultProxy(f"127.0.0.1:{port}") as proxy, await connect(proxy) as conn:
            with pytest.raises((anyio.BrokenResourceError, anyio.EndOfStream)):
                await conn.receive()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="host:port"):
        FaultProxy("nohost")
    proxy = FaultProxy("127.0.0.1:1")
    with pytest.raises(ValueError, match="negative"):
        proxy.delay(-1)


async def test_black_hole_swallows_the_close_too() -> None:
    with anyio.fail_after(10):
        async with proxied() as (target, proxy):
            conn = await connect(proxy)
            await conn.send(b"a")
            await receive_exactly(conn, 1)
            proxy.black_hole()
            await conn.aclose()  # a vanished client: its FIN never arrives
            await anyio.sleep(0.3)
            assert not target.eof.is_set()
            assert proxy.open_connections == 1


async def test_stall_holds_the_close_behind_the_bytes() -> None:
    with anyio.fail_after(10):
        async with proxied() as (target, proxy), await connect(proxy) as conn:
            proxy.stall(Direction.TO_TARGET)
            await conn.send(b"last words")
            await conn.send_eof()
            await anyio.sleep(0.3)
            assert not target.eof.is_set() and target.received == b""
            proxy.heal()
            await target.eof.wait()
            assert target.received == b"last words"


async def test_hanging_address_hangs_connection_attempts() -> None:
    from gorums_h2.testing import hanging_address

    with hanging_address() as address:
        host, port = address.rsplit(":", 1)
        with anyio.move_on_after(1) as scope:
            await anyio.connect_tcp(host, int(port))
        assert scope.cancelled_caught


async def test_leaves_no_task_or_descriptor_behind() -> None:
    from gorums_h2.testing import assert_no_fd_leak, assert_no_leaks, open_fds, task_count

    tasks, fds = task_count(), open_fds()
    with anyio.fail_after(20):
        async with proxied() as (_, proxy):
            conns = [await connect(proxy) for _ in range(4)]
            for conn in conns:
                await conn.send(b"x")
                await receive_exactly(conn, 1)
            proxy.stall()
            await conns[0].send(b"held")
            proxy.black_hole(Direction.TO_CLIENT)
            proxy.reset()
            await eventually(lambda: proxy.open_connections == 0)
            for conn in conns:
                await conn.aclose()
            conns = [await connect(proxy) for _ in range(2)]  # still open at exit
        for conn in conns:
            await conn.aclose()
        await assert_no_leaks(tasks)
        await assert_no_fd_leak(fds)
