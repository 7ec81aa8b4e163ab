"""Which I/O path a connection takes: injected backends and the one place that chooses.

As httpcore's network backends do, the client and the server get their I/O
from a backend object instead of looking at the running loop themselves.
``WireSettings(io_backend=...)`` carries it to :func:`~.client.connect`,
:class:`~.server.WireServer`, and through them to ``Manager`` and ``Server``;
None (the default) means the running loop's native backend.

* :class:`AsyncioBackend`: asyncio's native protocol path
  (:class:`~._asyncio_io.AsyncioProtocolIO`: no reader or writer task),
  connecting with ``loop.create_connection`` and serving with
  ``loop.create_server``. asyncio loops only (uvloop too).
* :class:`TrioBackend`: anyio's TCP connect and listener, then trio's raw
  socket under them (:class:`~._trio_io.TrioSocketIO`) for plain TCP,
  :class:`~._io.StreamIO` over TLS. trio only.
* :class:`AnyioBackend`: anyio byte streams everywhere (:class:`~._io.StreamIO`,
  one reader and one writer task): any loop; the portable reference path.

:func:`select_io_backend` is the only code that asks which loop runs. Every
backend also turns an accepted anyio byte stream into a connection's I/O
(:meth:`IOBackend.wrap`), for :meth:`WireServer.serve` on listeners of your
own: the asyncio backend then uses StreamIO, as there is no protocol to
take over.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute, TLSStream

from gorums_h2.wire._io import IOStrategy, StreamIO, set_tcp_timeouts
from gorums_h2.wire.errors import ConnectionBroken
from gorums_h2.wire.tls import QuietTLSListener, check_alpn_h2

if TYPE_CHECKING:
    import logging

    from gorums_h2.wire.settings import WireSettings

__all__ = [
    "AnyioBackend",
    "AsyncioBackend",
    "IOBackend",
    "TrioBackend",
    "open_transport",
    "select_io_backend",
]


def _running_library() -> str:
    import sniffio

    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        raise RuntimeError("gorums_h2.wire needs a running asyncio or trio event loop") from None


@dataclass(frozen=True)
class IOBackend:
    """How connections move bytes: connect, listen, and wrap accepted streams.

    Backends hold no state (equal when of the same class) and are chosen once
    per connection or listener by :func:`select_io_backend`.
    """

    #: the async libraries (sniffio names) the backend runs on
    libraries: ClassVar[frozenset[str]] = frozenset({"asyncio", "trio"})

    async def connect(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None,
                      server_hostname: str | None, connect_timeout: float,
                      settings: WireSettings) -> IOStrategy:
        """Connect TCP (and TLS with ALPN ``h2``), set ``settings``' TCP
        keepalive and ``TCP_USER_TIMEOUT``, and return the connection's I/O.

        Raises :class:`ConnectionBroken` (UNAVAILABLE) when the connection
        or handshake fails, takes longer than ``connect_timeout`` seconds, or
        the server negotiates another ALPN protocol; ValueError if
        ``ssl_context`` does not offer ``h2``.
        """
        stream = await open_transport(host, port, ssl_context=ssl_context,
                                      server_hostname=server_hostname,
                                      connect_timeout=connect_timeout)
        set_tcp_timeouts(stream.extra(SocketAttribute.raw_socket, None),
                         settings.tcp_keepalive, settings.tcp_user_timeout)
        return self.wrap(stream)

    async def listen_tcp(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None,
                         handshake_timeout: float, log: logging.Logger
                         ) -> anyio.abc.Listener[Any]:
        """Bind and listen on ``host:port`` (0: any free port); with
        ``ssl_context``, TLS handshakes (bounded by ``handshake_timeout``,
        failures logged rarely on ``log``). Raises ``OSError`` naming the
        address when it cannot bind. The listener hands out anyio byte
        streams or, for the asyncio backend, :class:`IOStrategy` objects."""
        try:
            listener: anyio.abc.Listener[Any] = await anyio.create_tcp_listener(
                local_host=host, local_port=port)
        except OSError as exc:
            # trio says only "Address already in use": name the address, as asyncio does
            raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                          ) from exc
        if ssl_context is not None:
            tls = QuietTLSListener(listener, ssl_context, standard_compatible=False,
                                   handshake_timeout=handshake_timeout)
            tls.log = log
            listener = tls
        return listener

    def wrap(self, transport: anyio.abc.ByteStream) -> IOStrategy:
        """The I/O for a connected anyio byte stream (an accepted one)."""
        return StreamIO(transport)


@dataclass(frozen=True)
class AnyioBackend(IOBackend):
    """anyio byte streams with a reader and a writer task, on any loop."""


@dataclass(frozen=True)
class TrioBackend(IOBackend):
    """trio's raw non-blocking socket under anyio's TCP stream (plain TCP);
    TLS streams keep the generic path."""

    libraries: ClassVar[frozenset[str]] = frozenset({"trio"})

    def wrap(self, transport: anyio.abc.ByteStream) -> IOStrategy:
        from gorums_h2.wire._trio_io import TrioSocketIO, tcp_socket

        sock = tcp_socket(transport)
        if sock is None:
            return StreamIO(transport)
        return TrioSocketIO(transport, sock)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AsyncioBackend(IOBackend):
    """asyncio's transports and protocols, no reader or writer task
    (any asyncio loop, uvloop too)."""

    libraries: ClassVar[frozenset[str]] = frozenset({"asyncio"})

    async def connect(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None,
                      server_hostname: str | None, connect_timeout: float,
                      settings: WireSettings) -> IOStrategy:
        import asyncio

        from gorums_h2.wire._asyncio_io import AsyncioProtocolIO, mark_asyncio_context

        if ssl_context is not None:
            check_alpn_h2(ssl_context, server_side=False)
        mark_asyncio_context()
        io = AsyncioProtocolIO()
        with _connecting(host, port, connect_timeout):
            transport, _ = await asyncio.get_running_loop().create_connection(
                lambda: io.protocol, host, port, ssl=ssl_context,
                server_hostname=(server_hostname or host) if ssl_context is not None
                else None)
        set_tcp_timeouts(transport.get_extra_info("socket"), settings.tcp_keepalive,
                         settings.tcp_user_timeout)
        refused = _alpn_refusal(io.extra(TLSAttribute.alpn_protocol, None), host, port)
        if refused is not None:
            transport.abort()
            raise refused
        return io

    async def listen_tcp(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None,
                         handshake_timeout: float, log: logging.Logger
                         ) -> anyio.abc.Listener[Any]:
        from gorums_h2.wire._asyncio_io import AsyncioListener

        return await AsyncioListener.create(host, port, ssl_context=ssl_context,
                                            handshake_timeout=handshake_timeout)


_NATIVE: dict[str, IOBackend] = {"asyncio": AsyncioBackend(), "trio": TrioBackend()}


def select_io_backend(choice: IOBackend | None = None) -> IOBackend:
    """The backend for a connection or listener made now: ``choice``, or
    (None) the running loop's native one (:class:`AsyncioBackend` on
    asyncio and uvloop, :class:`TrioBackend` on trio).

    Raises RuntimeError when no loop runs or ``choice`` does not run on the
    running one (e.g. :class:`AsyncioBackend` under trio).
    """
    library = _running_library()
    if choice is None:
        backend = _NATIVE.get(library)
        if backend is None:
            raise RuntimeError(f"gorums_h2.wire does not run on {library}")
        return backend
    if library not in choice.libraries:
        raise RuntimeError(f"{type(choice).__name__} does not run on {library}")
    return choice


async def open_transport(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    connect_timeout: float = 20.0,
) -> anyio.abc.ByteStream:
    """Connect TCP (and TLS with ALPN ``h2`` when ``ssl_context`` is given).

    Raises :class:`ConnectionBroken` (UNAVAILABLE) when the connection or
    handshake fails or takes longer than ``connect_timeout`` seconds;
    ValueError if ``ssl_context`` does not offer ALPN ``h2`` (it is not
    changed: see :func:`~gorums_h2.wire.tls.check_alpn_h2`).
    """
    if ssl_context is not None:
        check_alpn_h2(ssl_context, server_side=False)
    with _connecting(host, port, connect_timeout):
        tcp = await anyio.connect_tcp(host, port)
        if ssl_context is None:
            return tcp
        try:
            tls = await TLSStream.wrap(
                tcp,
                hostname=server_hostname or host,
                ssl_context=ssl_context,
                standard_compatible=False,
            )
        except BaseException:
            await anyio.aclose_forcefully(tcp)
            raise
    refused = _alpn_refusal(tls.extra(TLSAttribute.alpn_protocol, None), host, port)
    if refused is not None:
        await anyio.aclose_forcefully(tls)
        raise refused
    return tls


@contextmanager
def _connecting(host: str, port: int, connect_timeout: float) -> Iterator[None]:
    """One connection attempt (TCP and TLS handshake) within ``connect_timeout``;
    its failures become :class:`ConnectionBroken` saying why, alike on every
    I/O path."""
    try:
        with anyio.fail_after(connect_timeout):
            yield
    except TimeoutError:
        raise ConnectionBroken(
            f"connect to {host}:{port} timed out after {connect_timeout:g}s") from None
    except (OSError, ssl.SSLError, anyio.BrokenResourceError) as exc:
        raise ConnectionBroken(f"cannot connect to {host}:{port}: {_cause_text(exc)}") from exc


def _alpn_refusal(alpn: object, host: str, port: int) -> ConnectionBroken | None:
    """The error for a TLS server that negotiated a protocol other than h2
    (None: h2, or no ALPN, which gRPC servers without it are allowed)."""
    if alpn in (None, "h2"):
        return None
    return ConnectionBroken(f"server at {host}:{port} negotiated ALPN {alpn!r}, not h2")


def _cause_text(exc: BaseException) -> str:
    """Why a connection attempt failed, the same on both loops: ``[Errno 111]
    Connection refused``. anyio's connect_tcp (trio) says only "All connection
    attempts failed" and keeps the per-address errors in ``__cause__``."""
    cause = exc.__cause__ if type(exc) is OSError and exc.errno is None else None
    leaves: list[BaseException] = (
        list(cause.exceptions) if isinstance(cause, BaseExceptionGroup)
        else [cause] if cause is not None else [exc])
    texts: list[str] = []
    for leaf in leaves:
        errno = leaf.errno if isinstance(leaf, OSError) else None
        if isinstance(leaf, ssl.SSLError) or errno is None:
            text = str(leaf) or type(leaf).__name__
        else:
            text = f"[Errno {errno}] {os.strerror(errno)}"
        if text not in texts:
            texts.append(text)
    return "; ".join(texts)
