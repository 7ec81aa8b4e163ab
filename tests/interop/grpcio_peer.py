"""grpcio as an independent gRPC peer, on its own threads (sync API).

grpcio's event-loop integration is asyncio-only, so the tests use its
thread-based API: the server runs on grpcio's thread pool, client calls run
in a worker thread (``anyio.to_thread.run_sync``). That works the same under
asyncio and trio. Messages are raw bytes (no serializers).

Service ``test.Interop`` (bidi methods):

* ``Echo``: echoes every message; initial metadata ``echo-<key>`` repeats the
  request's custom metadata, trailing metadata is ``count: <n>`` and
  ``trailer-bin``.
* ``Fail``: reads one message, then fails with FAILED_PRECONDITION, a unicode
  message and a ``google.rpc.Status`` detail in ``grpc-status-details-bin``.
* ``Source``: reads one message ``<n>`` and sends ``n`` messages ``%05d``.

(grpcio's sync API costs about 0.2 ms per message here, so the many-message
tests send one way only.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2, wrappers_pb2

from gorums_h2.pb import status_pb2

MiB = 1024 * 1024
BIG_OPTIONS = [("grpc.max_receive_message_length", 32 * MiB),
               ("grpc.max_send_message_length", 32 * MiB)]
FAIL_MESSAGE = "precondition ü failed"
SKIPPED = {"user-agent", "grpc-accept-encoding", "te", "content-type", ":authority",
           "grpc-timeout"}


def detail() -> any_pb2.Any:
    out = any_pb2.Any()
    out.Pack(wrappers_pb2.StringValue(value="why it failed"))
    return out


@dataclass(frozen=True)
class _Status(grpc.Status):  # type: ignore[misc]
    code: grpc.StatusCode
    details: str
    trailing_metadata: Sequence[tuple[str, str | bytes]]


def _echo(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    custom = [(f"echo-{k}", v) for k, v in context.invocation_metadata() if k not in SKIPPED]
    context.send_initial_metadata(custom)
    count = 0
    for msg in requests:
        count += 1
        yield msg
    context.set_trailing_metadata([("count", str(count)), ("trailer-bin", b"\x00\x01\xff")])


def _fail(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    next(requests)
    status = status_pb2.Status(code=grpc.StatusCode.FAILED_PRECONDITION.value[0],
                               message=FAIL_MESSAGE, details=[detail()])
    context.abort_with_status(_Status(
        grpc.StatusCode.FAILED_PRECONDITION, FAIL_MESSAGE,
        [("grpc-status-details-bin", status.SerializeToString()), ("extra", "trailer")]))
    yield b""  # unreachable: abort raises


def _source(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    for i in range(int(next(requests))):
        yield b"%05d" % i


def start_server(compression: grpc.Compression | None = None) -> tuple[grpc.Server, int]:
    """A grpcio server for ``test.Interop`` on 127.0.0.1; returns (server, port).

    With ``compression``, it compresses replies to clients that accept it."""
    handler = grpc.method_handlers_generic_handler("test.Interop", {
        "Echo": grpc.stream_stream_rpc_method_handler(_echo),
        "Fail": grpc.stream_stream_rpc_method_handler(_fail),
        "Source": grpc.stream_stream_rpc_method_handler(_source),
    })
    server = grpc.server(ThreadPoolExecutor(max_workers=4), handlers=[handler],
                         options=BIG_OPTIONS, compression=compression)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@dataclass
class CallResult:
    """What a grpcio client call saw."""

    replies: list[bytes]
    initial_metadata: list[tuple[str, Any]]
    trailing_metadata: list[tuple[str, Any]]
    code: grpc.StatusCode
    details: str


def call(port: int, path: str, requests: Sequence[bytes],
         metadata: Sequence[tuple[str, str | bytes]] = (),
         compression: grpc.Compression | None = None) -> CallResult:
    """Run one bidi call with a grpcio client (blocking: use a worker thread);
    with ``compression``, its requests are compressed."""
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=BIG_OPTIONS) as channel:
        stub = channel.stream_stream(path)
        it = stub(iter(requests), metadata=list(metadata), timeout=60, compression=compression)
        replies: list[bytes] = []
        try:
            replies.extend(it)
        except grpc.RpcError:
            pass
        return CallResult(replies, list(it.initial_metadata() or ()),
                          list(it.trailing_metadata() or ()), it.code(), it.details() or "")
