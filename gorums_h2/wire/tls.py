"""TLS contexts for gRPC, and a check that a caller's context negotiates ALPN ``h2``.

gRPC over TLS requires ALPN ``h2`` (grpc-go refuses peers without it since
1.67). We never change an ``ssl.SSLContext`` the caller passes in: it may be
shared with other servers or clients, and ``set_alpn_protocols`` would
silently replace their protocols. Nor can we copy it: an ``SSLContext``
cannot be copied (the loaded key and certificates cannot be read back). So
:func:`check_alpn_h2` *checks*, without I/O: it runs the first TLS
handshake step in memory (``ssl.MemoryBIO``) and sees whether a client
context offers ``h2`` in its ClientHello, or a server context selects
``h2`` for a client offering it, and raises a ValueError saying what to do
if not. :func:`client_ssl_context` and :func:`server_ssl_context` make
contexts that pass.
"""

from __future__ import annotations

import logging
import os
import ssl
import struct
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSListener

from gorums_h2.wire.status import escape_peer_text

__all__ = ["QuietTLSListener", "check_alpn_h2", "server_ssl_context"]

_ALPN_EXTENSION = 16


class QuietTLSListener(TLSListener):
    """anyio's TLS listener, logging failed handshakes (and handshake
    timeouts) briefly at DEBUG on ``log``: anyio logs each one at ERROR with
    a traceback, a cheap way to flood a server's log."""

    log: logging.Logger = logging.getLogger("gorums_h2.wire.server")

    async def handle_handshake_error(self, exc: BaseException,  # type: ignore[override]
                                     stream: anyio.abc.AnyByteStream) -> None:
        peer = stream.extra(SocketAttribute.remote_address, None)
        await anyio.aclose_forcefully(stream)
        if isinstance(exc, Exception) and not isinstance(exc, anyio.get_cancelled_exc_class()):
            self.log.debug("TLS handshake with %s failed: %s", escape_peer_text(str(peer)),
                           escape_peer_text(repr(exc)))
            return
        raise exc

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        # the inner listener's too: serve_tcp reports the bound address
        return {**self.listener.extra_attributes, **super().extra_attributes}


def server_ssl_context(
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str] | None = None,
    *,
    client_ca: str | os.PathLike[str] | None = None,
) -> ssl.SSLContext:
    """A TLS server context for gRPC: TLS 1.2+, ALPN ``h2``.

    ``client_ca`` (a PEM file of CA certificates): mutual TLS; every client
    must present a certificate signed by one of them (the handshake fails
    otherwise), and only these CAs are trusted for it (not the system's).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    ctx.set_alpn_protocols(["h2"])
    if client_ca is not None:
        ctx.load_verify_locations(cafile=client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def check_alpn_h2(ctx: ssl.SSLContext, *, server_side: bool) -> None:
    """Raise ValueError unless ``ctx`` negotiates ALPN ``h2``.

    A client context must offer ``h2``; a server context must select it for
    a client offering it (and must be able to start a handshake at all: a
    server context without a certificate fails here too). ``ctx`` is not
    changed. Costs one in-memory handshake step (about a millisecond).
    """
    if server_side:
        selected, error = _server_selection(ctx)
        if error is not None:
            raise ValueError(f"the server ssl_context cannot start a TLS handshake: {error}")
        if selected != "h2":
            raise ValueError(
                "the server ssl_context does not negotiate ALPN 'h2' (gRPC needs it; selected "
                f"{selected!r}): call ctx.set_alpn_protocols(['h2']) on it, or make it with "
                "gorums_h2.wire.server_ssl_context()")
        return
    offered = _client_offer(ctx)
    if "h2" not in offered:
        raise ValueError(
            "the client ssl_context does not offer ALPN 'h2' (gRPC needs it; offered "
            f"{offered!r}): call ctx.set_alpn_protocols(['h2']) on it, or make it with "
            "gorums_h2.wire.client_ssl_context()")


def _client_offer(ctx: ssl.SSLContext) -> list[str]:
    """The ALPN protocols in the ClientHello ``ctx`` makes."""
    out = ssl.MemoryBIO()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out, server_side=False, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return parse_client_hello_alpn(out.read())


def parse_client_hello_alpn(data: bytes) -> list[str]:
    """The ALPN protocol names in a TLS record holding a ClientHello ([] if none).

    Raises ValueError if ``data`` is not a ClientHello.
    """
    try:
        if data[0] != 22 or data[5] != 1:  # handshake record, ClientHello
            raise ValueError("not a TLS ClientHello")
        (length,) = struct.unpack_from(">H", data, 3)
        body = data[9:5 + length]
        pos = 2 + 32  # client_version, random
        pos += 1 + body[pos]  # session id
        pos += 2 + struct.unpack_from(">H", body, pos)[0]  # cipher suites
        pos += 1 + body[pos]  # compression methods
        if pos >= len(body):
            return []
        (ext_end,) = struct.unpack_from(">H", body, pos)
        pos += 2
        ext_end += pos
        while pos + 4 <= ext_end:
            kind, size = struct.unpack_from(">HH", body, pos)
            pos += 4
            if kind == _ALPN_EXTENSION:
                names = []
                end = pos + size
                item = pos + 2  # after the list length
                while item < end:
                    n = body[item]
                    names.append(body[item + 1:item + 1 + n].decode("ascii", "replace"))
                    item += 1 + n
                return names
            pos += size
    except (IndexError, struct.error) as exc:
        raise ValueError(f"truncated TLS ClientHello: {exc}") from None
    return []


def _server_selection(ctx: ssl.SSLContext) -> tuple[str | None, str | None]:
    """(what ``ctx`` selects for a client offering h2, or an error text)."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    probe.set_alpn_protocols(["h2"])
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = probe.wrap_bio(to_client, to_server, server_side=False)
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = ctx.wrap_bio(server_in, server_out, server_side=True)
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    server_in.write(to_server.read())
    try:
        server.do_handshake()
    except ssl.SSLWantReadError:
        pass
    except ssl.SSLError as exc:
        return None, str(exc)
    return server.selected_alpn_protocol(), None
