"""Client sockets get TCP keepalive and TCP_USER_TIMEOUT (on every I/O path)."""

from __future__ import annotations

import socket

import anyio
import pytest
from _backends import with_io
from anyio.abc import SocketAttribute
from tcp_helpers import serving

from gorums_h2.wire import WireSettings, connect

pytestmark = pytest.mark.anyio


def _opt(sock: socket.socket, level: int, name: int) -> int:
    return int(sock.getsockopt(level, name))


@pytest.mark.skipif(not hasattr(socket, "TCP_KEEPIDLE"), reason="no TCP_KEEPIDLE here")
async def test_default_and_custom_tcp_timeouts_are_set(wire: WireSettings) -> None:
    async with serving(settings=wire) as (_, port):
        with anyio.fail_after(10):
            async with connect("127.0.0.1", port, settings=wire) as conn:
                sock = conn.extra(SocketAttribute.raw_socket)
                assert _opt(sock, socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert _opt(sock, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 15
                assert _opt(sock, socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 15
                if hasattr(socket, "TCP_USER_TIMEOUT"):
                    assert _opt(sock, socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 10_000
            settings = WireSettings(tcp_keepalive=None, tcp_user_timeout=2.5)
            async with connect("127.0.0.1", port, settings=with_io(settings, wire)) as conn:
                sock = conn.extra(SocketAttribute.raw_socket)
                assert _opt(sock, socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
                if hasattr(socket, "TCP_USER_TIMEOUT"):
                    assert _opt(sock, socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 2500


def test_timeouts_must_be_positive() -> None:
    for name in ("tcp_keepalive", "tcp_user_timeout", "peer_probe_after", "peer_probe_timeout"):
        with pytest.raises(ValueError):
            WireSettings(**{name: 0})  # type: ignore[arg-type]
