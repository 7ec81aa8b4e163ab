"""A request already in the socket when the server accepts the connection.

uvloop reads a new connection before calling ``connection_made`` (and a
server connection's task starts a loop iteration later still): those bytes
must wait until the connection runs, never reach the request dispatch before
its task group exists. A blocking client socket connects and writes the whole
request while the server's loop is busy, so the bytes are there at accept.
"""

from __future__ import annotations

import socket

import anyio
import h2.config
import h2.connection
import h2.events
import pytest
from tcp_helpers import ECHO, serving

from gorums_h2.wire.framing import encode_message
from gorums_h2.wire.settings import WireSettings

pytestmark = pytest.mark.anyio

CONNECTIONS = 10


def _request(h2c: h2.connection.H2Connection, body: bytes) -> bytes:
    h2c.initiate_connection()
    h2c.send_headers(1, [(b":method", b"POST"), (b":scheme", b"http"), (b":path", ECHO.encode()),
                         (b":authority", b"t"), (b"content-type", b"application/grpc"),
                         (b"te", b"trailers")])
    h2c.send_data(1, encode_message(body), end_stream=True)
    return h2c.data_to_send()


async def _answer(sock: anyio.abc.SocketStream, h2c: h2.connection.H2Connection) -> bytes:
    """The reply's DATA, once the server ended the stream."""
    data = b""
    while True:
        for event in h2c.receive_data(await sock.receive()):
            if isinstance(event, h2.events.DataReceived):
                data += event.data
            if isinstance(event, h2.events.StreamEnded):
                return data
        await sock.send(h2c.data_to_send())


async def test_request_sent_before_accept_is_served(wire: WireSettings) -> None:
    async with serving(settings=wire) as (_, port):
        for i in range(CONNECTIONS):
            body = f"early {i}".encode()
            h2c = h2.connection.H2Connection(
                h2.config.H2Configuration(client_side=True, header_encoding=None))
            raw = socket.create_connection(("127.0.0.1", port))  # the kernel accepts it
            raw.sendall(_request(h2c, body))  # before the server's loop runs again
            raw.setblocking(False)
            sock = await anyio.abc.SocketStream.from_socket(raw)
            async with sock:
                with anyio.fail_after(10):
                    assert await _answer(sock, h2c) == encode_message(body)
