"""TLS: ALPN ``h2`` required from clients, mutual TLS, callers' contexts left unchanged.

Before issue 10 the server accepted TLS clients without ALPN ``h2``,
``server_ssl_context`` could not require client certificates, and Manager
and Server overwrote the ALPN protocols of the SSLContext passed in.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import anyio
import anyio.abc
import pytest
from _backends import anyio_backend, io_backend, wire
from _certs import self_signed_cert
from _conn_kit import closed_by_server, gorums_server

import gorums_h2 as g
from gorums_h2.testing import ECHO_RPC, Echo
from gorums_h2.wire import WireSettings, check_alpn_h2, client_ssl_context, server_ssl_context
from gorums_h2.wire.tls import _client_offer, parse_client_hello_alpn

__all__ = ["anyio_backend", "io_backend", "wire"]

pytestmark = pytest.mark.anyio


@pytest.fixture
def certs(tmp_path: Path) -> tuple[str, str]:
    cert, key = self_signed_cert(tmp_path)
    return str(cert), str(key)


@pytest.fixture
def client_certs(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "client").mkdir()
    cert, key = self_signed_cert(tmp_path / "client", "client")
    return str(cert), str(key)


async def _echo(address: tuple[str, int], ctx: ssl.SSLContext, wire: WireSettings
                ) -> str | g.StatusError:
    """The echoed value, or the call's StatusError."""
    async with g.Manager(ssl_context=ctx, server_hostname="localhost", wire_settings=wire,
                         backoff=g.Backoff(base_delay=30)) as mgr:
        node = mgr.new_configuration(g.with_node_list([f"{address[0]}:{address[1]}"])).nodes()[0]
        try:
            with anyio.fail_after(10):
                reply = await g.rpc_call(node.context(), Echo(value="tls"), ECHO_RPC, Echo)
        except g.StatusError as exc:
            return exc
        return reply.value


@pytest.mark.parametrize("alpn", [None, ["http/1.1"]])
async def test_server_closes_tls_clients_without_alpn_h2(
        certs: tuple[str, str], alpn: list[str] | None, caplog: pytest.LogCaptureFixture,
        wire: WireSettings) -> None:
    caplog.set_level(logging.DEBUG, logger="gorums_h2.server")
    server_ctx = server_ssl_context(*certs)
    async with gorums_server(ssl_context=server_ctx, wire=wire) as (address, server):
        ctx = ssl.create_default_context(cafile=certs[0])
        if alpn is not None:
            ctx.set_alpn_protocols(alpn)
        for _ in range(3):
            sock = await anyio.connect_tcp(*address, ssl_context=ctx,
                                           tls_standard_compatible=False,
                                           tls_hostname="localhost")
            took = await closed_by_server(sock, within=5)
            await anyio.aclose_forcefully(sock)
            assert took < 5
        assert not server.wire.connections
        # a client with ALPN h2 is served
        assert await _echo(address, client_ssl_context(certs[0]), wire) == "tls"
    refusals = [r for r in caplog.records if "is not 'h2'" in r.getMessage()]
    assert [r.levelno for r in refusals] == [logging.INFO, logging.DEBUG, logging.DEBUG]


async def test_mutual_tls(certs: tuple[str, str], client_certs: tuple[str, str],
                          wire: WireSettings) -> None:
    server_ctx = server_ssl_context(*certs, client_ca=client_certs[0])
    assert server_ctx.verify_mode == ssl.CERT_REQUIRED
    async with gorums_server(ssl_context=server_ctx, wire=wire) as (address, _):
        with_cert = client_ssl_context(certs[0], certfile=client_certs[0], keyfile=client_certs[1])
        assert await _echo(address, with_cert, wire) == "tls"
        # a client without a certificate (or with one the CA did not sign) gets nowhere
        for ctx in (client_ssl_context(certs[0]),
                    client_ssl_context(certs[0], certfile=certs[0], keyfile=certs[1])):
            error = await _echo(address, ctx, wire)
            assert isinstance(error, g.StatusError)
            assert error.code == g.StatusCode.UNAVAILABLE


async def test_callers_context_is_not_changed(certs: tuple[str, str], wire: WireSettings) -> None:
    """A context offering h2 among others keeps exactly its protocols."""
    client_ctx = client_ssl_context(certs[0])
    client_ctx.set_alpn_protocols(["http/1.1", "h2"])
    server_ctx = server_ssl_context(*certs)
    server_ctx.set_alpn_protocols(["h2", "http/1.1"])
    async with gorums_server(ssl_context=server_ctx, wire=wire) as (address, _):
        assert await _echo(address, client_ctx, wire) == "tls"
    assert _client_offer(client_ctx) == ["http/1.1", "h2"]  # was ["h2"] before


def test_contexts_without_h2_refused_with_a_clear_error(certs: tuple[str, str]) -> None:
    client_ctx = ssl.create_default_context()
    with pytest.raises(ValueError, match=r"does not offer ALPN 'h2'.*set_alpn_protocols"):
        g.Manager(ssl_context=client_ctx)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(*certs)
    server_ctx.set_alpn_protocols(["http/1.1"])
    with pytest.raises(ValueError, match=r"does not negotiate ALPN 'h2'"):
        g.Server(ssl_context=server_ctx)
    with pytest.raises(ValueError, match="cannot start a TLS handshake"):
        check_alpn_h2(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), server_side=True)
    check_alpn_h2(server_ssl_context(*certs), server_side=True)
    check_alpn_h2(client_ssl_context(), server_side=False)


def test_parse_client_hello_alpn() -> None:
    ctx = client_ssl_context()
    ctx.set_alpn_protocols(["h2", "grpc-exp"])
    assert _client_offer(ctx) == ["h2", "grpc-exp"]
    with pytest.raises(ValueError):
        parse_client_hello_alpn(b"\x16\x03\x01\x00")
    with pytest.raises(ValueError):
        parse_client_hello_alpn(b"GET / HTTP/1.1\r\n")


async def test_tls_slowloris_closed_by_handshake_timeout(
        certs: tuple[str, str], caplog: pytest.LogCaptureFixture, wire: WireSettings) -> None:
    """A TLS server gives the TLS handshake the same budget, and logs the
    failures at DEBUG only (anyio would log each at ERROR with a traceback)."""
    caplog.set_level(logging.DEBUG)
    limits = g.ServerLimits(handshake_timeout=1.0)
    server_ctx = server_ssl_context(*certs)
    async with gorums_server(ssl_context=server_ctx, limits=limits, wire=wire) as (
            address, server):
        socks = [await anyio.connect_tcp(*address) for _ in range(5)]
        for sock in socks:
            await sock.send(b"\x16")  # the first byte of a TLS record
        async with anyio.create_task_group() as tg:
            took: list[float] = []

            async def wait(sock: anyio.abc.SocketStream) -> None:
                took.append(await closed_by_server(sock, within=1.0 + 4.0))
                await anyio.aclose_forcefully(sock)

            for sock in socks:
                tg.start_soon(wait, sock)
        assert len(took) == 5 and max(took) < 1.0 + 4.0, took
        assert await _echo(address, client_ssl_context(certs[0]), wire) == "tls"
        assert len(server.wire.connections) <= 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
