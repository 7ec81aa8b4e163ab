"""WireServer/ClientConnection semantics end to end over real TCP: handler
outcomes become statuses, deadlines, cancellation, metadata, stream limits."""

from __future__ import annotations

import anyio
import pytest
from _backends import with_io
from google.protobuf import any_pb2, wrappers_pb2
from tcp_helpers import ECHO, echo, serving

from gorums_h2.wire import (
    EndOfStream,
    Metadata,
    ServerStream,
    StatusCode,
    StatusError,
    StreamClosed,
    WireSettings,
    connect,
)

pytestmark = pytest.mark.anyio


def _detail() -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(wrappers_pb2.StringValue(value="detail"))
    return out


async def _raise_status(stream: ServerStream) -> None:
    await stream.receive()
    raise StatusError(StatusCode.ABORTED, "aborted ü", [_detail()])


async def _raise_other(stream: ServerStream) -> None:
    await stream.receive()
    raise KeyError("boom")


async def _hang(stream: ServerStream) -> None:
    await anyio.sleep_forever()


async def _metadata(stream: ServerStream) -> None:
    stream.send_initial_metadata({"server-says": "hi", "blob-bin": b"\x00\x01"})
    async for msg in stream:
        await stream.send(msg)
    stream.end(StatusCode.OK, metadata=[("t", "1"), ("t", "2")])


@pytest.mark.parametrize(
    ("path", "status"),
    [("/t.S/Status", StatusError(StatusCode.ABORTED, "aborted ü", [_detail()])),
     ("/t.S/Other", StatusError(StatusCode.UNKNOWN, "KeyError: 'boom'"))],
)
async def test_handler_exceptions_become_statuses(
        path: str, status: StatusError, wire: WireSettings) -> None:
    handlers = {"/t.S/Status": _raise_status, "/t.S/Other": _raise_other}
    async with serving(handlers, settings=wire) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                stream = await conn.open_stream(path)
                await stream.send(b"x")
                with pytest.raises(StatusError) as info:
                    await stream.receive()
                assert info.value == status
                assert stream.status == status


async def test_unknown_path_and_bad_path_are_unimplemented(wire: WireSettings) -> None:
    async with serving(settings=wire) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                for path, message in [("/t.S/Nope", "unknown method Nope for service t.S"),
                                      ("/nopath", "malformed method name: '/nopath'")]:
                    stream = await conn.open_stream(path)
                    with pytest.raises(StatusError) as info:
                        await stream.receive()
                    assert (info.value.code, info.value.message) == (
                        StatusCode.UNIMPLEMENTED, message)


async def test_grpc_timeout_is_enforced_by_the_server(wire: WireSettings) -> None:
    async with serving({"/t.S/Hang": _hang}, settings=wire) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                stream = await conn.open_stream("/t.S/Hang", grpc_timeout=0.05)
                with pytest.raises(StatusError) as info:
                    await stream.receive()
                assert info.value.code == StatusCode.DEADLINE_EXCEEDED


async def test_client_cancel_cancels_the_handler(wire: WireSettings) -> None:
    started, cancelled = anyio.Event(), anyio.Event()

    async def handler(stream: ServerStream) -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    async with serving({"/t.S/H": handler, ECHO: echo}, settings=wire) as (srv, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                stream = await conn.open_stream("/t.S/H")
                stream.send_nowait(b"x")
                await started.wait()
                stream.cancel()
                await cancelled.wait()
                with pytest.raises(StreamClosed) as info:  # our own cancel
                    await stream.receive()
                assert info.value.code == StatusCode.CANCELLED
                # nothing is left behind on either side (the server forgot the
                # stream when the reset arrived, before cancelling the handler)
                assert not any(c.core.streams for c in srv.connections)
                assert conn.core.streams == {}
                await _echo_once(conn)


async def _echo_once(conn: object) -> None:
    stream = await conn.open_stream(ECHO)  # type: ignore[attr-defined]
    await stream.send(b"still fine")
    assert await stream.receive() == b"still fine"


async def test_metadata_both_ways(wire: WireSettings) -> None:
    seen: list[Metadata] = []

    async def handler(stream: ServerStream) -> None:
        seen.append(stream.head.metadata)
        await _metadata(stream)

    async with serving({"/t.S/M": handler}, settings=wire) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, authority="node-1:7000", settings=wire) as conn:
                stream = await conn.open_stream(
                    "/t.S/M", subtype="gorums",
                    metadata=[("a", "1"), ("a", "2"), ("key-bin", b"\xff\x00")])
                md = await stream.wait_initial_metadata()
                assert md == Metadata([("server-says", "hi"), ("blob-bin", b"\x00\x01")])
                await stream.send(b"m")
                assert await stream.receive() == b"m"
                stream.end()
                with pytest.raises(EndOfStream):
                    await stream.receive()
                assert stream.trailing_metadata == Metadata([("t", "1"), ("t", "2")])
    (md,) = seen
    assert md.get_all("a") == ["1", "2"]
    assert md["key-bin"] == b"\xff\x00"
    assert md[":authority"] == "node-1:7000"
    assert str(md["user-agent"]).startswith("gorums-h2/")


async def test_client_waits_for_the_servers_stream_limit(wire: WireSettings) -> None:
    release = anyio.Event()

    async def handler(stream: ServerStream) -> None:
        await release.wait()

    settings = WireSettings(max_concurrent_streams=2)
    async with serving({"/t.S/H": handler}, settings=with_io(settings, wire)) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                await conn.ping()  # the server's SETTINGS (and its limit) came before the ACK
                first = [await conn.open_stream("/t.S/H") for _ in range(2)]
                for s in first:
                    s.send_nowait(b"x")
                opened: list[object] = []

                async def open_third() -> None:
                    opened.append(await conn.open_stream("/t.S/H"))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(open_third)
                    await anyio.wait_all_tasks_blocked()
                    assert opened == []  # the third waits for a free slot
                    release.set()
                for s in first:
                    with pytest.raises(EndOfStream):
                        await s.receive()
                assert len(opened) == 1
