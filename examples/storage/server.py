"""The storage server: a key-value store whose writes carry timestamps.

It serves both NodeStream wires (Go Gorums v0.11's ``ordering`` and master's
``stream``) on each port. Rules (those of the Go Gorums v0.11 capture's
server, see docs/interop.md):
a write is applied unless the stored value's time is newer, and ``new`` says
whether it was applied; reading a missing key gives ``OK=False``. The keys
``fail`` and ``fail-plain`` make every method fail, with a FailedPrecondition
status and with a plain exception (sent as Unknown) respectively.

Run ``gorums-h2 storage serve --addr 127.0.0.1:29100`` (see ``--help``).
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

import anyio
from google.protobuf.timestamp_pb2 import Timestamp

import gorums_h2
from gorums_h2.examples.storage.storage_gorums import (
    read_qc,
    register_storage_server,
    write_multicast,
)
from gorums_h2.examples.storage.storage_pb2 import (
    ReadRequest,
    ReadResponse,
    WriteRequest,
    WriteResponse,
)

__all__ = ["StorageService", "new_storage_server", "serve"]

log = logging.getLogger("gorums_h2.examples.storage")


class StorageService:
    """Implements ``StorageServer`` (storage_gorums.py) on an in-memory dict."""

    def __init__(self) -> None:
        self.store: dict[str, tuple[str, Timestamp]] = {}

    @staticmethod
    def _check_key(key: str) -> None:
        if key == "fail":
            raise gorums_h2.StatusError(gorums_h2.StatusCode.FAILED_PRECONDITION,
                                        f'key "{key}" is rejected by server')
        if key == "fail-plain":
            raise RuntimeError(f"plain error for key {key}")

    def read(self, req: ReadRequest) -> ReadResponse:
        self._check_key(req.key)
        entry = self.store.get(req.key)
        if entry is None:
            return ReadResponse(OK=False)
        value, time = entry
        return ReadResponse(OK=True, value=value, time=time)

    def write(self, req: WriteRequest) -> WriteResponse:
        self._check_key(req.key)
        entry = self.store.get(req.key)
        if entry is not None and _after(entry[1], req.time):
            return WriteResponse(new=False)
        stamp = Timestamp()
        stamp.CopyFrom(req.time)
        self.store[req.key] = (req.value, stamp)
        return WriteResponse(new=True)

    async def read_rpc(self, ctx: gorums_h2.ServerCtx, req: ReadRequest, /) -> ReadResponse:
        return self.read(req)

    async def write_rpc(self, ctx: gorums_h2.ServerCtx, req: WriteRequest, /) -> WriteResponse:
        return self.write(req)

    async def read_qc(self, ctx: gorums_h2.ServerCtx, req: ReadRequest, /) -> ReadResponse:
        return self.read(req)

    async def write_qc(self, ctx: gorums_h2.ServerCtx, req: WriteRequest, /) -> WriteResponse:
        return self.write(req)

    async def write_multicast(self, ctx: gorums_h2.ServerCtx, req: WriteRequest, /) -> None:
        self.write(req)

    async def write_unicast(self, ctx: gorums_h2.ServerCtx, req: WriteRequest, /) -> None:
        self.write(req)

    async def read_correctable(self, ctx: gorums_h2.ServerCtx, req: ReadRequest,
                               send: Callable[[ReadResponse], Awaitable[None]], /) -> None:
        """Sends the stored value once (a correctable read's single level)."""
        await send(self.read(req))

    async def read_nested_qc(self, ctx: gorums_h2.ServerCtx, req: ReadRequest, /) -> ReadResponse:
        """ReadQC on this server's peers, else on its back-channel clients (as
        master); the newest value a majority of them returned."""
        cfg = _nested_config(ctx, "ReadNestedQC")
        replies = await read_qc(cfg.context(timeout=NESTED_TIMEOUT), req).collect_n(
            cfg.size() // 2 + 1)
        found = [r for r in replies.values() if r is not None and r.OK]
        if not found:
            return ReadResponse(OK=False)
        newest = found[0]
        for reply in found[1:]:
            if _after(reply.time, newest.time):
                newest = reply
        return newest

    async def write_nested_multicast(self, ctx: gorums_h2.ServerCtx, req: WriteRequest,
                                     /) -> WriteResponse:
        """WriteMulticast to this server's peers, else to its back-channel
        clients (as master); ``new`` is true once the write was handed to all."""
        cfg = _nested_config(ctx, "WriteNestedMulticast")
        await write_multicast(cfg.context(timeout=NESTED_TIMEOUT), req)
        return WriteResponse(new=True)


NESTED_TIMEOUT = 10.0
"""Seconds a nested call waits for the nodes it calls (a faulty peer never
blocks the handler longer)."""


def _nested_config(ctx: gorums_h2.ServerCtx, method: str) -> gorums_h2.Configuration:
    cfg = ctx.config()
    if cfg.size() == 0:
        cfg = ctx.client_config()
    if cfg.size() == 0:
        raise gorums_h2.StatusError(
            gorums_h2.StatusCode.FAILED_PRECONDITION,
            f"{method} needs peers or back-channel clients; this server has neither")
    return cfg


def _after(a: Timestamp, b: Timestamp) -> bool:
    return (a.seconds, a.nanos) > (b.seconds, b.nanos)


def new_storage_server(service: StorageService | None = None,
                       **options: object) -> gorums_h2.Server:
    """A Server with the storage service registered (``server.service``)."""
    server = gorums_h2.Server(**options)  # type: ignore[arg-type]
    service = service or StorageService()
    register_storage_server(server, service)
    server.service = service  # type: ignore[attr-defined]
    return server


async def serve(addresses: Sequence[tuple[str, int]], *, announce: bool = True) -> None:
    """Serve one storage server per address until SIGINT or SIGTERM.

    Prints ``LISTENING host:port`` for each server once all of them accept
    connections; if one cannot listen, the others are stopped and the
    OSError is raised (in the task group's ExceptionGroup).
    """
    # the signal receiver is open before LISTENING is printed: a Ctrl-C right
    # after the announcement stops the servers cleanly too
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:
            bound = [await tg.start(new_storage_server().serve_tcp, host, port)
                     for host, port in addresses]
            if announce:
                for bound_host, bound_port in bound:
                    print(f"LISTENING {bound_host}:{bound_port}", flush=True)
            async for signum in signals:
                print(f"stopping on {signal.Signals(signum).name}", file=sys.stderr, flush=True)
                break
            tg.cancel_scope.cancel()
