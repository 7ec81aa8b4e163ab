"""A loopback TCP fault proxy: inject network faults between a client and a server.

:class:`FaultProxy` listens on ``127.0.0.1`` (a free port by default) and
forwards every accepted connection to a target ``host:port``. A test points
its client at :attr:`FaultProxy.address` and changes what the "network" does
at run time, per direction (:class:`Direction`) or both::

    async with FaultProxy(server_address) as proxy:
        cfg = mgr.new_configuration(with_node_list([proxy.address, ...]))
        proxy.delay(0.05, jitter=0.01)          # slow link
        proxy.stall()                           # stopped peer: nothing moves, bytes wait
        proxy.black_hole(Direction.TO_CLIENT)   # replies vanish, sockets stay open
        proxy.heal()                            # back to a clean link
        proxy.reset()                           # RST every connection (SO_LINGER 0)
        proxy.cut()                             # close every connection (FIN)

It knows nothing about HTTP/2 or gRPC and works for any TCP protocol, on
asyncio and trio (anyio). Faults apply to the connections open now *and* to
the ones accepted later, until changed. What each fault looks like to the
endpoints:

* **delay(d, jitter)**: every chunk read is written ``d`` seconds (plus a
  uniform random ``0..jitter``) later. Order is kept: jitter never reorders
  bytes, a chunk is never written before the one read before it.
* **stall()**: nothing is written; the proxy keeps reading until its buffer
  (``buffer_bytes`` per direction and connection) is full, then stops
  reading, so the kernel buffers fill and the sender's writes block, as with
  a peer process that is stopped (SIGSTOP). ``heal()`` delivers everything
  buffered, in order: no byte is lost.
* **black_hole()**: everything read is dropped, also what was buffered, and
  so are a FIN or RST from the sender; the sockets stay open and writes
  succeed, so only the protocol (a keepalive PING) can notice. Bytes
  dropped are gone: a connection healed after a black hole carries a
  corrupted byte stream (a real partition delays bytes, TCP retransmits
  them; use :mod:`gorums_h2.testing.netns` for that).
* **reset()**: every open connection is aborted with RST on both sides
  (``SO_LINGER`` 0): the peers see ``ECONNRESET``.
* **cut()**: every open connection is closed on both sides (FIN); a peer
  sees end of stream (RST instead if it had sent bytes not yet read).
* **refuse()**: new connections are accepted and reset at once, until
  ``heal()`` (a listener that is gone, without losing the port).

On loopback the kernel always acknowledges what the proxy reads, so TCP's
own failure detection (retransmission timeouts, ``TCP_USER_TIMEOUT``, TCP
keepalive) never fires through a stall or black hole: only the protocol's
own timeouts do. For faults the kernel sees, use network namespaces.
"""

from __future__ import annotations

import enum
import random
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import TracebackType

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["Direction", "FaultProxy", "hanging_address"]

_CHUNK = 65536


class Direction(enum.Flag):
    """Which way bytes flow through the proxy."""

    TO_TARGET = 1
    """From the client (the side that connected to the proxy) to the target."""
    TO_CLIENT = 2
    """From the target back to the client."""
    BOTH = TO_TARGET | TO_CLIENT


class _Mode(enum.Enum):
    PASS = "pass"
    STALL = "stall"
    DROP = "black-hole"


@dataclass
class _Fault:
    """The fault state of one direction, shared by all connections."""

    mode: _Mode = _Mode.PASS
    delay: float = 0.0
    jitter: float = 0.0
    _changed: anyio.Event | None = field(default=None, repr=False)

    def set(self, **changes: object) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        if self._changed is not None:  # wake the pumps waiting for a change
            self._changed.set()
            self._changed = None

    async def changed(self) -> None:
        """Wait for the next :meth:`set`."""
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()


class _Pair:
    """One proxied connection: the client side and the target side."""

    def __init__(self, client: anyio.abc.SocketStream, target: anyio.abc.SocketStream) -> None:
        self.client = client
        self.target = target
        self.scope = anyio.CancelScope()

    def abort(self, rst: bool) -> None:
        if rst:
            linger = struct.pack("ii", 1, 0)
            for s in (self.client, self.target):
                with suppress(OSError):
                    s.extra(anyio.abc.SocketAttribute.raw_socket).setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self.scope.cancel()


class FaultProxy:
    """A TCP proxy on ``host:port`` to ``target`` with faults set at run time.

    Use it as an async context manager (it runs its tasks in its own task
    group); leaving the block closes the listener and every connection.
    ``target`` is ``"host:port"`` or ``(host, port)``. ``buffer_bytes``
    bounds what the proxy holds per direction and connection (stalled or
    delayed bytes) before it stops reading from the sender.

    Counters: :attr:`accepted` connections, :attr:`open_connections`, and
    :meth:`forwarded`/:meth:`dropped` bytes per direction.
    """

    def __init__(self, target: str | tuple[str, int], *, host: str = "127.0.0.1",
                 port: int = 0, buffer_bytes: int = 1 << 20) -> None:
        if isinstance(target, str):
            t_host, sep, t_port = target.rpartition(":")
            if not sep or not t_port.isdigit():
                raise ValueError(f"target must be 'host:port', got {target!r}")
            target = (t_host.strip("[]"), int(t_port))
        self.target = target
        self._listen = (host, port)
        self._max_chunks = max(1, buffer_bytes // _CHUNK)
        self._faults = {Direction.TO_TARGET: _Fault(), Direction.TO_CLIENT: _Fault()}
        self._refusing = False
        self._pairs: set[_Pair] = set()
        self._bytes = {(d, kind): 0 for d in self._faults for kind in ("fwd", "drop")}
        self._tg: anyio.abc.TaskGroup | None = None
        self._listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None
        self.accepted = 0
        self.host = host
        self.port = port
        self._random = random.Random()

    # ---- lifetime ----

    async def __aenter__(self) -> FaultProxy:
        self._listener = await anyio.create_tcp_listener(
            local_host=self._listen[0], local_port=self._listen[1])
        address = self._listener.extra(anyio.abc.SocketAttribute.local_address)
        assert isinstance(address, tuple)
        self.host, self.port = str(address[0]), int(address[1])
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._listener.serve, self._handle, self._tg)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> bool | None:
        assert self._tg is not None and self._listener is not None
        self._tg.cancel_scope.cancel()
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            with anyio.CancelScope(shield=True):
                await self._listener.aclose()

    @property
    def address(self) -> str:
        """``host:port`` the client should connect to."""
        return f"{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections currently proxied."""
        return len(self._pairs)

    def forwarded(self, direction: Direction = Direction.BOTH) -> int:
        """Bytes written on to the other side so far."""
        return sum(self._bytes[d, "fwd"] for d in self._each(direction))

    def dropped(self, direction: Direction = Direction.BOTH) -> int:
        """Bytes thrown away by :meth:`black_hole` so far."""
        return sum(self._bytes[d, "drop"] for d in self._each(direction))

    # ---- faults ----

    def delay(self, seconds: float, jitter: float = 0.0,
              direction: Direction = Direction.BOTH) -> None:
        """Add ``seconds`` (+ uniform ``0..jitter``) to every chunk read from now on."""
        if seconds < 0 or jitter < 0:
            raise ValueError("delay and jitter must not be negative")
        for d in self._each(direction):
            self._faults[d].set(delay=seconds, jitter=jitter)

    def stall(self, direction: Direction = Direction.BOTH) -> None:
        """Stop forwarding; keep the bytes (buffered, then in the kernel) for :meth:`heal`."""
        for d in self._each(direction):
            self._faults[d].set(mode=_Mode.STALL)

    def black_hole(self, direction: Direction = Direction.BOTH) -> None:
        """Drop every byte (also those buffered); keep the sockets open."""
        for d in self._each(direction):
            self._faults[d].set(mode=_Mode.DROP)

    def refuse(self) -> None:
        """Reset new connections as soon as they are accepted, until :meth:`heal`."""
        self._refusing = True

    def heal(self, direction: Direction = Direction.BOTH) -> None:
        """Forward again without delay; stalled bytes are delivered in order.
        With ``Direction.BOTH`` new connections are accepted again too."""
        for d in self._each(direction):
            self._faults[d].set(mode=_Mode.PASS, delay=0.0, jitter=0.0)
        if direction == Direction.BOTH:
            self._refusing = False

    def reset(self) -> None:
        """Abort every open connection with RST on both sides (SO_LINGER 0)."""
        for pair in list(self._pairs):
            pair.abort(rst=True)

    def cut(self) -> None:
        """Close every open connection on both sides."""
        for pair in list(self._pairs):
            pair.abort(rst=False)

    # ---- internals ----

    @staticmethod
    def _each(direction: Direction) -> Iterator[Direction]:
        for d in (Direction.TO_TARGET, Direction.TO_CLIENT):
            if d in direction:
                yield d

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        self.accepted += 1
        target: anyio.abc.SocketStream | None = None
        try:
            if self._refusing:
                _Pair(client, client).abort(rst=True)
                return
            try:
                target = await anyio.connect_tcp(*self.target)
            except OSError:
                _Pair(client, client).abort(rst=True)  # the target refused: so do we
                return
            pair = _Pair(client, target)
            self._pairs.add(pair)
            try:
                with pair.scope:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._pump, pair, client, target, Direction.TO_TARGET)
                        tg.start_soon(self._pump, pair, target, client, Direction.TO_CLIENT)
            finally:
                self._pairs.discard(pair)
        finally:  # also when the proxy closes while connecting to the target
            with anyio.CancelScope(shield=True):
                await client.aclose()
                if target is not None:
                    await target.aclose()

    async def _pump(self, pair: _Pair, src: anyio.abc.SocketStream,
                    dst: anyio.abc.SocketStream, direction: Direction) -> None:
        """Forward one direction: a reader filling a bounded queue, a writer
        applying the fault. The pair ends when a side fails; EOF is passed on."""
        send, receive = anyio.create_memory_object_stream[tuple[float, bytes] | None](
            self._max_chunks)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._read, pair, src, send, direction)
            await self._write(pair, dst, receive, direction)

    async def _read(self, pair: _Pair, src: anyio.abc.SocketStream,
                    send: MemoryObjectSendStream[tuple[float, bytes] | None],
                    direction: Direction) -> None:
        fault = self._faults[direction]
        async with send:
            while True:
                try:
                    data = await src.receive(_CHUNK)
                except anyio.EndOfStream:
                    if fault.mode is not _Mode.DROP:  # a black hole swallows the FIN too
                        await send.send(None)
                    return
                except (anyio.BrokenResourceError, OSError):
                    if fault.mode is not _Mode.DROP:  # ... and a reset
                        pair.abort(rst=True)  # a reset on one side is passed on as a reset
                    return
                if fault.mode is _Mode.DROP:
                    self._bytes[direction, "drop"] += len(data)
                    continue
                lag = fault.delay + (self._random.uniform(0, fault.jitter) if fault.jitter else 0)
                await send.send((anyio.current_time() + lag, data))

    async def _write(self, pair: _Pair, dst: anyio.abc.SocketStream,
                     receive: MemoryObjectReceiveStream[tuple[float, bytes] | None],
                     direction: Direction) -> None:
        fault = self._faults[direction]
        async with receive:
            async for item in receive:
                while True:
                    while fault.mode is _Mode.STALL:
                        await fault.changed()
                    if fault.mode is _Mode.DROP:
                        self._bytes[direction, "drop"] += len(item[1]) if item else 0
                        break
                    if item is None:  # EOF from the sender: half-close towards the receiver
                        with suppress(OSError, anyio.BrokenResourceError):
                            await dst.send_eof()
                        return
                    due, data = item
                    wait = due - anyio.current_time()
                    if wait <= 0:
                        try:
                            await dst.send(data)
                        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                            pair.abort(rst=True)
                            return
                        self._bytes[direction, "fwd"] += len(data)
                        break
                    with anyio.move_on_after(wait):
                        await fault.changed()  # a stall or black hole may start meanwhile


@contextmanager
def hanging_address(host: str = "127.0.0.1") -> Iterator[str]:
    """A ``host:port`` where connection attempts hang (no error, no answer).

    It is a listener whose accept queue is full and never drained: the
    kernel drops further SYNs, as for a black-holed host or an overloaded
    server's full listen backlog, so ``connect()`` waits for its own
    timeout. Everything is closed when the block ends.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind((host, 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(3):  # more than the queue holds
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            fillers.append(filler)
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect(address)
        yield f"{address[0]}:{address[1]}"
    finally:
        for sock in fillers:
            sock.close()
        listener.close()
