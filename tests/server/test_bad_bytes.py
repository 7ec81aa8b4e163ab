"""Bad bytes from raw TCP sockets: the server drops that connection and keeps
serving everyone else. Runs on the wire backend matrix (native asyncio I/O,
anyio streams on asyncio, trio), since the server's read path differs."""

from __future__ import annotations

import anyio
import pytest
from _backends import anyio_backend, io_backend, wire
from _server_kit import WAIT, address_of, eventually, raw_node_stream, running
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, SettingsFrame

import gorums_h2 as g
from gorums_h2.testing import ECHO_RPC, Echo, register_echo_service
from gorums_h2.testing.services import EchoService
from gorums_h2.wire import WireSettings

__all__ = ["anyio_backend", "io_backend", "wire"]

pytestmark = pytest.mark.anyio

def _echo_server(wire: WireSettings) -> g.Server:
    server = g.Server(wire_settings=wire)
    register_echo_service(server, EchoService(0))
    return server


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = SettingsFrame(0).serialize()


def _data_on_stream_0() -> bytes:
    frame = DataFrame(1)
    frame.data = b"x"
    raw = bytearray(frame.serialize())
    raw[5:9] = b"\x00\x00\x00\x00"  # stream 0: a connection error
    return bytes(raw)


def _bad_hpack() -> bytes:
    frame = HeadersFrame(1)
    frame.data = b"\xff\xff\xff\xff\xff\xff"
    frame.flags.add("END_HEADERS")
    return frame.serialize()


GARBAGE = {
    "http/1.1 request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "random bytes": bytes(range(256)) * 4,
    "preface then data on stream 0": PREFACE + SETTINGS + _data_on_stream_0(),
    "preface then bad hpack": PREFACE + SETTINGS + _bad_hpack(),
    "preface then unknown settings ack": (
        PREFACE + SETTINGS + b"\x00\x00\x01\x04\x01\x00\x00\x00\x00x"),
    "preface then oversized frame": PREFACE + SETTINGS + b"\xff\xff\xff\x00\x00\x00\x00\x00\x01",
    "preface then random bytes": PREFACE + bytes(range(255, -1, -1)) * 4,
}

# h2 (4.4) alone checks a frame's length against MAX_FRAME_SIZE only once the
# whole frame has arrived; the wire layer rejects it as soon as the header is in.
DROP_CASES = list(GARBAGE)


async def _read_until_closed(sock: anyio.abc.SocketStream, patience: float
                             ) -> bytes | None:
    """Everything the server sent until it closed; None if it kept the socket open."""
    data = b""
    with anyio.move_on_after(patience):
        while True:
            try:
                data += await sock.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                return data
    return None


async def _send_garbage(address: tuple[str, int], garbage: bytes, patience: float
                        ) -> bytes | None:
    sock = await anyio.connect_tcp(*address)
    async with sock:
        try:
            await sock.send(garbage)
        except (anyio.BrokenResourceError, ConnectionError):
            pass  # the server may already have closed on the first bytes
        return await _read_until_closed(sock, patience)


def _frames(data: bytes) -> list[Frame]:
    frames = []
    while len(data) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        if len(data) < 9 + length:
            break
        frame.parse_body(memoryview(data[9 : 9 + length]))
        frames.append(frame)
        data = data[9 + length :]
    return frames


async def _still_serving(node: g.Node, raw_address: tuple[str, int]) -> None:
    reply = await g.rpc_call(node.context(), Echo(value="alive"), ECHO_RPC, Echo)
    assert reply.value == "alive"
    async with raw_node_stream(raw_address) as raw:  # and new connections work
        raw.send(1, ECHO_RPC, Echo(value="new"))
        assert Echo.FromString((await raw.receive()).payload).value == "new"


@pytest.mark.parametrize("case", list(GARBAGE))
async def test_after_garbage_other_clients_keep_working(case: str, wire: WireSettings) -> None:
    server = _echo_server(wire)
    async with running(server) as address, g.Manager(wire_settings=wire) as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        await g.rpc_call(node.context(), Echo(value="before"), ECHO_RPC, Echo)
        await _send_garbage(address, GARBAGE[case], 0.2)
        await _still_serving(node, address)


@pytest.mark.parametrize("case", DROP_CASES)
async def test_a_connection_sending_garbage_is_dropped(case: str, wire: WireSettings) -> None:
    server = _echo_server(wire)
    async with running(server) as address:
        data = await _send_garbage(address, GARBAGE[case], WAIT)
    assert data is not None, "the server kept the connection open"
    if GARBAGE[case].startswith(PREFACE):  # a connection error: GOAWAY, then close
        goaways = [f for f in _frames(data) if isinstance(f, GoAwayFrame)]
        assert goaways and goaways[-1].error_code != 0


async def test_silent_and_half_open_sockets_do_not_block_anyone(wire: WireSettings) -> None:
    server = _echo_server(wire)
    async with running(server) as address, g.Manager(wire_settings=wire) as mgr:
        node = mgr.new_configuration(g.with_node_list([address_of(address)])).nodes()[0]
        silent = await anyio.connect_tcp(*address)
        half = await anyio.connect_tcp(*address)
        await half.send(PREFACE[:10])
        async with silent, half:
            await _still_serving(node, address)
        # closing them mid-preface is fine too
        await eventually(lambda: len(server.wire.connections) == 1)
        await _still_serving(node, address)
