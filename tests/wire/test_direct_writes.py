"""Messages written from the caller's own step (IOStrategy.message_queued).

On the native I/O paths (asyncio's protocol, trio's raw socket) the first
message a task queues after a read is written before ``send_nowait``
returns; later ones until the next read are batched into one write; a task
that queues to two connections in one step (a quorum call's fan-out) keeps
the deferred write from then on. The generic anyio-stream path always
defers. Either way the bytes arrive complete and in order.
"""

from __future__ import annotations

import dataclasses
import socket

import anyio
import pytest
from tcp_helpers import ECHO, serving

from gorums_h2.wire import connect
from gorums_h2.wire._io import direct_writes
from gorums_h2.wire.client import ClientConnection
from gorums_h2.wire.settings import WireSettings

pytestmark = pytest.mark.anyio


def _native(conn: ClientConnection) -> bool:
    """The paths that write at once (not the generic one, not uvloop's)."""
    name = type(conn.io).__name__
    return name == "TrioSocketIO" or (name == "AsyncioProtocolIO" and conn.io._direct_ok)


async def test_first_message_after_a_read_leaves_at_once(wire: WireSettings) -> None:
    async with serving(settings=wire) as (_, port), \
            connect("127.0.0.1", port, settings=wire) as conn:
        stream = await conn.open_stream(ECHO, subtype="gorums")
        stream.send_nowait(b"warm-up")
        assert await stream.receive() == b"warm-up"  # a read: the next write may go at once
        for i in range(20):
            first = stream.send_nowait(b"a%d" % i)
            assert (stream.written >= first) == _native(conn)
            second = stream.send_nowait(b"b%d" % i)  # same step, no read since: batched
            assert stream.written < second
            assert await stream.receive() == b"a%d" % i
            assert await stream.receive() == b"b%d" % i
            assert stream.written >= second


async def test_fan_out_keeps_the_deferred_write(wire: WireSettings) -> None:
    async with serving(settings=wire) as (_, port), \
            connect("127.0.0.1", port, settings=wire) as one, \
            connect("127.0.0.1", port, settings=wire) as two:
        streams = [await one.open_stream(ECHO, subtype="gorums"),
                   await two.open_stream(ECHO, subtype="gorums")]
        for s in streams:
            s.send_nowait(b"warm-up")
            assert await s.receive() == b"warm-up"

        async def fan_out() -> None:
            tickets = [s.send_nowait(b"q0") for s in streams]  # one step, two connections
            assert (streams[0].written >= tickets[0]) == _native(one)
            assert streams[1].written < tickets[1]  # the second connection waits
            for s in streams:
                assert await s.receive() == b"q0"
            # remembered: this task's next first message is deferred too
            ticket = streams[0].send_nowait(b"q1")
            assert streams[0].written < ticket
            assert await streams[0].receive() == b"q1"
            assert direct_writes.fans_out(_current_native_task()) == _native(one)

        async def single() -> None:  # another task, one connection: at once again
            ticket = streams[0].send_nowait(b"r")
            assert (streams[0].written >= ticket) == _native(one)
            assert await streams[0].receive() == b"r"

        await fan_out()
        async with anyio.create_task_group() as tg:
            tg.start_soon(single)


def _current_native_task() -> object:
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_task()
    import asyncio

    return asyncio.current_task()


async def test_partial_direct_send_is_finished_by_the_writer(wire: WireSettings) -> None:
    """A direct send the kernel takes only part of: the rest follows in
    order, before anything queued later."""
    big = bytes(range(256)) * (3 * 4096)  # 3 MiB
    settings = dataclasses.replace(wire, max_receive_message_size=8 << 20)
    async with serving(settings=settings) as (_, port), \
            connect("127.0.0.1", port, settings=settings) as conn:
        stream = await conn.open_stream(ECHO, subtype="gorums")
        stream.send_nowait(b"warm-up")
        assert await stream.receive() == b"warm-up"
        sock = getattr(conn.io, "sock", None)
        if sock is not None:  # trio's raw socket: a small buffer forces a partial send
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        first = stream.send_nowait(big)
        stream.send_nowait(b"after")
        if sock is not None:
            assert stream.written < first  # the rest is the writer's
        assert await stream.receive() == big
        assert await stream.receive() == b"after"
