"""Helpers of the server tests: run a Server on TCP, drive a NodeStream by hand.

:func:`running` serves a :class:`~gorums_h2.Server` on a free 127.0.0.1 port
and checks for leaks after stopping it. :func:`raw_node_stream` opens
``/ordering.Gorums/NodeStream`` (or another wire's NodeStream, ``wire=``) with
the wire client only, so tests send hand-made gorums envelopes (built with
:mod:`gorums_h2.codec`) and see exactly which replies come back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from google.protobuf.message import Message as ProtoMessage

import gorums_h2 as g
from gorums_h2.codec import ORDERING, Envelope, WireProtocol, decode_full, encode
from gorums_h2.codec.envelope import encode_entries, encode_metadata, encode_method_field
from gorums_h2.pb import ordering_pb2
from gorums_h2.testing import assert_no_leaks, task_count
from gorums_h2.wire.client import ClientConnection, ClientStream, connect
from gorums_h2.wire.metadata import MetadataLike

NODE_STREAM = "/ordering.Gorums/NodeStream"
WAIT = 5.0  # seconds a test waits for something that must happen


def envelope(seq: int, method: str, msg: ProtoMessage | bytes = b"",
             entries: Iterable[tuple[str, str]] = ()) -> bytes:
    """A request envelope as a gorums client sends it."""
    payload = msg if isinstance(msg, bytes) else msg.SerializeToString()
    md = encode_metadata(seq, encode_method_field(method), b"", encode_entries(entries))
    return encode(md, payload)


@dataclass
class Reply:
    """One reply from the server: its metadata and raw payload."""

    md: ordering_pb2.Metadata
    payload: bytes
    body: bytes

    @property
    def seq(self) -> int:
        return self.md.message_seq_no

    @property
    def code(self) -> int:
        return self.md.status.code

    @property
    def message(self) -> str:
        return self.md.status.message

    @property
    def entries(self) -> list[tuple[str, str]]:
        return [(e.key, e.value) for e in self.md.entry]


class RawNodeStream:
    """A NodeStream driven by hand: :meth:`send` envelopes, :meth:`receive` replies."""

    def __init__(self, conn: ClientConnection, stream: ClientStream,
                 wire: WireProtocol = ORDERING) -> None:
        self.conn = conn
        self.stream = stream
        self.wire = wire

    def send(self, seq: int, method: str, msg: ProtoMessage | bytes = b"",
             entries: Iterable[tuple[str, str]] = ()) -> None:
        self.stream.send_nowait(envelope(seq, method, msg, entries))

    def send_body(self, body: bytes) -> None:
        self.stream.send_nowait(body)

    async def receive(self, within: float = WAIT) -> Reply:
        with anyio.fail_after(within):
            body = await self.stream.receive()
        md, _, payload = decode_full(body)
        return Reply(md, payload, body)

    async def receive_n(self, n: int) -> list[Reply]:
        return [await self.receive() for _ in range(n)]

    async def receive_env(self, within: float = WAIT) -> tuple[Envelope, bytes]:
        """The next reply decoded by the stream's wire, and its bytes."""
        with anyio.fail_after(within):
            body = await self.stream.receive()
        return self.wire.decode(body), body

    def nothing_pending(self) -> bool:
        """True if no reply is queued right now."""
        return not self.stream.has_message


@asynccontextmanager
async def raw_node_stream(address: tuple[str, int], metadata: MetadataLike | None = None, *,
                          wire: WireProtocol = ORDERING, subtype: str | None = "",
                          path: str = "") -> AsyncIterator[RawNodeStream]:
    """Connect to ``address`` and open ``wire``'s NodeStream (or ``path``) with
    ``metadata`` headers and the wire's content subtype (or ``subtype``)."""
    host, port = address
    async with connect(host, port) as conn:
        stream = await conn.open_stream(path or wire.path, metadata=metadata,
                                        subtype=wire.subtype if subtype == "" else subtype)
        yield RawNodeStream(conn, stream, wire)


@asynccontextmanager
async def running(server: g.Server, *, check_leaks: bool = True
                  ) -> AsyncIterator[tuple[str, int]]:
    """Serve ``server`` on a free port; yield ``(host, port)``; stop; check leaks."""
    baseline = task_count()
    async with anyio.create_task_group() as tg:
        address = await tg.start(server.serve_tcp, "127.0.0.1", 0)
        try:
            yield address
        finally:
            server.stop()
    if check_leaks:
        await assert_no_leaks(baseline, servers=[server])


def address_of(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


async def eventually(condition: Callable[[], object], within: float = WAIT) -> None:
    """Poll ``condition`` until it is true (TimeoutError after ``within`` s)."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.005)
