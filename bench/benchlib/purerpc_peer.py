"""purerpc on trio: server and benchmark driver, run with the Python of
``bench/.venv-purerpc`` (purerpc pins h2 < 4, so it cannot share our venv).

* ``purerpc_peer.py server [--count N]`` — ``benchpeer.Echo`` servers
  (``Unary`` echo, ``Stream`` echoing every message of a bidi stream,
  ``Sink`` counting until the client half-closes), one ``LISTENING
  host:port`` line each; serves until SIGTERM or the parent exits.
* ``purerpc_peer.py driver`` — reads JSON commands on stdin, one per line,
  answers one JSON line each on stdout:
  ``{"cmd": "connect", "addresses": [...], "streaming": false}`` ->
  ``{"ok": true}`` (``streaming``: the streaming form, one bidi stream per
  server with request ids, see benchlib.clients);
  ``{"cmd": "run", "workload": "A", "n": 200}`` ->
  ``{"ok": true, "seconds": s, "cpu": c}`` (wall and process CPU seconds of
  the run, measured in the driver); ``{"cmd": "quit"}``. Errors:
  ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import purerpc
from google.protobuf.wrappers_pb2 import BytesValue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib.workloads import timed_run

SERVICE = "benchpeer.Echo"
UNARY_SIG = purerpc.RPCSignature(purerpc.Cardinality.UNARY_UNARY, BytesValue, BytesValue)
SINK_SIG = purerpc.RPCSignature(purerpc.Cardinality.STREAM_STREAM, BytesValue, BytesValue)


# ---- server ----


def make_service() -> purerpc.Service:
    service = purerpc.Service(SERVICE)

    async def unary(request: BytesValue) -> BytesValue:
        return request

    async def sink(requests: Any) -> Any:
        count = 0
        async for _ in requests:
            count += 1
        yield BytesValue(value=str(count).encode())

    async def stream(requests: Any) -> Any:
        async for request in requests:
            yield request

    service.add_method("Unary", unary, UNARY_SIG)
    service.add_method("Stream", stream, SINK_SIG)
    service.add_method("Sink", sink, SINK_SIG)
    return service


async def serve(count: int) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(count):
            server = purerpc.Server(port=0)
            server.add_service(make_service())
            port = await tg.start(server.serve_async)
            print(f"LISTENING 127.0.0.1:{port}", flush=True)
        parent = os.getppid()
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            with anyio.CancelScope() as scope:
                tg.start_soon(_watch_parent, parent, scope)
                async for _ in signals:
                    break
        tg.cancel_scope.cancel()


async def _watch_parent(parent: int, scope: anyio.CancelScope) -> None:
    while os.getppid() == parent:  # noqa: ASYNC110
        await anyio.sleep(0.5)
    scope.cancel()


# ---- client ----


class PurerpcClient:
    """The workload client interface (see benchlib.workloads) on purerpc."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> PurerpcClient:
        await self._stack.__aenter__()
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        self._unary = []
        self._sink = []
        for address in self.addresses:
            host, port = address.rsplit(":", 1)
            channel = await self._stack.enter_async_context(
                purerpc.insecure_channel(host, int(port)))
            client = purerpc.Client(SERVICE, channel)
            self._unary.append(client.get_method_stub("Unary", UNARY_SIG))
            self._sink.append(client.get_method_stub("Sink", SINK_SIG))
        for unary in self._unary:
            await unary(BytesValue())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.__aexit__(None, None, None)

    def message(self, payload: bytes) -> BytesValue:
        return BytesValue(value=payload)

    async def rpc(self, msg: BytesValue) -> None:
        await self._unary[0](msg)

    async def quorum(self, nodes: int, q: int, msg: BytesValue) -> None:
        done = anyio.Event()
        count = 0

        async def one(i: int) -> None:
            nonlocal count
            try:
                await self._unary[i](msg)
            finally:
                count += 1
                if count == q:
                    done.set()

        for i in range(nodes):
            self._tg.start_soon(one, i)
        await done.wait()

    async def multicast_round(self, nodes: int, count: int, msg: BytesValue) -> None:
        streams = [await self._sink[i].call_stream(None) for i in range(nodes)]
        for _ in range(count):
            for stream in streams:
                await stream.send_message(msg)
        for stream in streams:
            await stream.close()
        for stream in streams:
            await stream.receive_message()


class PurerpcStreamClient(PurerpcClient):
    """The streaming form: one bidi ``Stream`` per server, opened once; each
    request carries an id (8 bytes in front of the payload), a reader task
    per stream wakes the call waiting for that id."""

    async def __aenter__(self) -> PurerpcStreamClient:
        await super().__aenter__()
        self._next_id = 0
        self._waiting: dict[bytes, Any] = {}
        self._streams = []
        for address in self.addresses:
            host, port = address.rsplit(":", 1)
            channel = await self._stack.enter_async_context(
                purerpc.insecure_channel(host, int(port)))
            stub = purerpc.Client(SERVICE, channel).get_method_stub("Stream", SINK_SIG)
            stream = await stub.call_stream(None)
            self._streams.append(stream)
            self._tg.start_soon(self._reader, stream)
        for node in range(len(self._streams)):
            await self._call(node, b"", None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for stream in self._streams:
            await stream.close()
        await super().__aexit__(*exc)

    async def _reader(self, stream: Any) -> None:
        waiting = self._waiting
        while (reply := await stream.receive_message()) is not None:
            done = waiting.pop(reply.value[:8], None)
            if done is not None:
                done()

    def message(self, payload: bytes) -> Any:
        return payload

    async def _call(self, node: int, payload: bytes, on_reply: Any) -> None:
        """Send one request to ``node``; ``on_reply()`` at its reply (None:
        wait for the reply here)."""
        self._next_id += 1
        key = self._next_id.to_bytes(8, "little")
        event = None
        if on_reply is None:
            event = anyio.Event()
            on_reply = event.set
        self._waiting[key] = on_reply
        await self._streams[node].send_message(BytesValue(value=key + payload))
        if event is not None:
            await event.wait()

    async def rpc(self, msg: Any) -> None:
        await self._call(0, msg, None)

    async def quorum(self, nodes: int, q: int, msg: Any) -> None:
        done = anyio.Event()
        count = 0

        def on_reply() -> None:
            nonlocal count
            count += 1
            if count == q:
                done.set()

        for i in range(nodes):
            await self._call(i, msg, on_reply)
        await done.wait()

    async def multicast_round(self, nodes: int, count: int, msg: Any) -> None:
        await super().multicast_round(nodes, count, BytesValue(value=msg))


async def drive() -> None:
    stdin = anyio.wrap_file(sys.stdin)
    client: PurerpcClient | None = None
    async with AsyncExitStack() as stack:
        async for line in stdin:
            cmd = json.loads(line)
            try:
                if cmd["cmd"] == "connect":
                    kind = PurerpcStreamClient if cmd.get("streaming") else PurerpcClient
                    client = await stack.enter_async_context(kind(cmd["addresses"]))
                    reply: dict[str, Any] = {"ok": True}
                elif cmd["cmd"] == "run":
                    assert client is not None, "connect first"
                    cpu0 = time.process_time()
                    seconds = await timed_run(client, cmd["workload"], cmd["n"])
                    reply = {"ok": True, "seconds": seconds, "cpu": time.process_time() - cpu0}
                elif cmd["cmd"] == "quit":
                    break
                else:
                    reply = {"ok": False, "error": f"unknown command {cmd['cmd']!r}"}
            except Exception as exc:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(reply), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mode", choices=("server", "driver"))
    ap.add_argument("--count", type=int, default=1)
    args = ap.parse_args(argv)
    if args.mode == "server":
        anyio.run(serve, args.count, backend="trio")
    else:
        anyio.run(drive, backend="trio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
