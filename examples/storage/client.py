"""The storage client: the Go v0.11 capture's call sequence, and a small REPL.

``gorums-h2 storage client --addrs A,B,C`` runs the capture's first seven
steps in order (WriteRPC, ReadRPC, WriteQC majority, ReadQC majority, ReadQC
all, WriteMulticast, ReadQC all of the multicast key) with the capture's
stream metadata keys and per-call entries, and prints one JSON line per step.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message as ProtoMessage
from google.protobuf.timestamp_pb2 import Timestamp

import gorums_h2
from gorums_h2.examples.storage import storage_gorums as sg
from gorums_h2.examples.storage.newest import read_newest
from gorums_h2.examples.storage.storage_pb2 import (
    ReadRequest,
    ReadResponse,
    WriteRequest,
)

__all__ = ["ERROR_STEPS", "REVERSE_STEPS", "STEPS", "Step", "StepResult", "Target", "repl",
           "reverse_server", "run_steps", "stream_metadata"]

REVERSE_KEY, REVERSE_VALUE = "client-key", "client-value"  # step 10's key, served by the client
BASE_TIME = 1_700_000_000  # write timestamps are BASE_TIME + step seconds, as in the capture


def stream_metadata(client_name: str = "gorums-h2-storage-client") -> dict[str, str]:
    """The NodeStream headers the capture's client sends (its name is ours)."""
    return {"client-name": client_name, "stream-key": "stream-value"}


def step_entries(step: int) -> list[tuple[str, str]]:
    """The per-call metadata entries of a step, as in the capture."""
    return [("msg-step", str(step)), ("msg-key", "msg-value")]


def _write(key: str, value: str, step: int) -> WriteRequest:
    return WriteRequest(key=key, value=value, time=Timestamp(seconds=BASE_TIME + step))


@dataclass(frozen=True)
class Step:
    number: int
    call: str
    request: ProtoMessage
    run: Callable[[Target, ProtoMessage, int], Awaitable[ProtoMessage | None]]
    expect: Callable[[ProtoMessage | None], bool] = lambda _r: True


@dataclass(frozen=True)
class StepResult:
    step: int
    call: str
    request: dict[str, Any]
    response: dict[str, Any] | None
    error: str | None
    ok: bool

    def json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=False)


@dataclass(frozen=True)
class Target:
    """Where steps go: quorum calls to ``cfg``, ordered RPCs to ``rpc_node``."""

    cfg: gorums_h2.Configuration
    rpc_node: gorums_h2.Node


def _node_ctx(t: Target, step: int) -> gorums_h2.NodeContext:
    return t.rpc_node.context(metadata=step_entries(step))


def _cfg_ctx(t: Target, step: int) -> gorums_h2.ConfigContext:
    return t.cfg.context(metadata=step_entries(step))


def _reads(value: str) -> Callable[[ProtoMessage | None], bool]:
    def check(resp: ProtoMessage | None) -> bool:
        return isinstance(resp, ReadResponse) and resp.OK and resp.value == value

    return check


async def _write_rpc(t: Target, req: Any, step: int) -> ProtoMessage:
    return await sg.write_rpc(_node_ctx(t, step), req)


async def _read_rpc(t: Target, req: Any, step: int) -> ProtoMessage:
    return await sg.read_rpc(_node_ctx(t, step), req)


async def _write_qc_majority(t: Target, req: Any, step: int) -> ProtoMessage:
    return await sg.write_qc(_cfg_ctx(t, step), req).majority()


async def _read_qc_majority(t: Target, req: Any, step: int) -> ProtoMessage:
    return await sg.read_qc(_cfg_ctx(t, step), req).majority()


async def _read_qc_all(t: Target, req: Any, step: int) -> ProtoMessage:
    return await sg.read_qc(_cfg_ctx(t, step), req).all()


async def _write_multicast(t: Target, req: Any, step: int) -> None:
    await sg.write_multicast(_cfg_ctx(t, step), req)


STEPS: tuple[Step, ...] = (
    Step(1, "WriteRPC", _write("rpc-key", "rpc-value", 1), _write_rpc),
    Step(2, "ReadRPC", ReadRequest(key="rpc-key"), _read_rpc, _reads("rpc-value")),
    Step(3, "WriteQC majority", _write("qc-key", "qc-value", 3), _write_qc_majority),
    Step(4, "ReadQC majority", ReadRequest(key="qc-key"), _read_qc_majority, _reads("qc-value")),
    Step(5, "ReadQC all", ReadRequest(key="qc-key"), _read_qc_all, _reads("qc-value")),
    Step(6, "WriteMulticast", _write("mc-key", "mc-value", 6), _write_multicast),
    Step(7, "ReadQC all", ReadRequest(key="mc-key"), _read_qc_all, _reads("mc-value")),
)
"""The capture's first seven steps (8 and 9 are its error cases, see ERROR_STEPS)."""

ERROR_STEPS: tuple[Step, ...] = (
    Step(8, "ReadRPC", ReadRequest(key="fail"), _read_rpc),
    Step(9, "ReadQC majority", ReadRequest(key="fail-plain"), _read_qc_majority),
)
"""The capture's error steps: both are expected to fail."""


async def _read_nested_qc(t: Target, req: Any, step: int) -> ProtoMessage:
    return await sg.read_nested_qc(_node_ctx(t, step), req)


REVERSE_STEPS: tuple[Step, ...] = (
    Step(10, "ReadNestedQC reverse", ReadRequest(key=REVERSE_KEY), _read_nested_qc,
         _reads(REVERSE_VALUE)),
)
"""Go master's step 10 (``--reverse``, stream wire): the first node answers
ReadNestedQC by calling ReadQC back on this client, which serves
:func:`reverse_server`'s one key."""


def reverse_server() -> gorums_h2.Server:
    """The client's back-channel handlers (Go master's storage client with
    ``--reverse``): the Storage methods with ``client-key`` = ``client-value``
    stored at time 1700000010."""
    from gorums_h2.examples.storage.server import new_storage_server

    server = new_storage_server()
    server.service.store[REVERSE_KEY] = (  # type: ignore[attr-defined]
        REVERSE_VALUE, Timestamp(seconds=BASE_TIME + 10))
    return server


def _as_dict(msg: ProtoMessage | None) -> dict[str, Any] | None:
    if msg is None:
        return None
    return MessageToDict(msg, preserving_proto_field_name=True)


async def run_steps(cfg: gorums_h2.Configuration, steps: Sequence[Step] = STEPS,
                    *, expect_errors: bool = False,
                    rpc_node: gorums_h2.Node | None = None) -> list[StepResult]:
    """Run ``steps`` in order; a step is ok when it succeeds and its check
    holds (or, with ``expect_errors``, when it fails). Ordered RPCs go to
    ``rpc_node`` (default: the configuration's first node by ID); the Go
    client sends them to the node of its first address."""
    target = Target(cfg, rpc_node or cfg.nodes()[0])
    results = []
    for step in steps:
        error: str | None = None
        response: ProtoMessage | None = None
        try:
            response = await step.run(target, step.request, step.number)
            ok = step.expect(response) and not expect_errors
        except (gorums_h2.StatusError, gorums_h2.QuorumCallError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            ok = expect_errors
        results.append(StepResult(step.number, step.call, _as_dict(step.request) or {},
                                  _as_dict(response), error, ok))
    return results


HELP = """commands:
  read KEY              ReadQC, the newest value of a majority
  readall KEY           ReadQC, every node's reply
  write KEY VALUE       WriteQC (majority), timestamped now
  rpc-read N KEY        ReadRPC on node number N (0-based)
  nodes                 the configuration and node state
  help | quit"""


async def repl(cfg: gorums_h2.Configuration, *, prompt: str = "storage> ") -> None:
    """An interactive shell of reads and writes (reads stdin in a thread)."""
    print(HELP)
    while True:
        try:
            line = await anyio.to_thread.run_sync(input, prompt)
        except EOFError:
            return
        words = line.split()
        if not words:
            continue
        cmd, args = words[0], words[1:]
        try:
            if cmd in ("quit", "exit"):
                return
            if cmd == "help":
                print(HELP)
            elif cmd == "nodes":
                for node in cfg.nodes():
                    state = "connected" if node.connected else f"down ({node.last_err})"
                    print(f"  {node.full_string()} | {state}")
            elif cmd == "read" and len(args) == 1:
                print(MessageToDict(await read_newest(
                    sg.read_qc(cfg.context(), ReadRequest(key=args[0])))))
            elif cmd == "readall" and len(args) == 1:
                async for r in sg.read_qc(cfg.context(), ReadRequest(key=args[0])):
                    shown = MessageToDict(r.value) if r.err is None and r.value else r.err
                    print(f"  node {r.node_id}: {shown}")
            elif cmd == "write" and len(args) >= 2:
                stamp = Timestamp()
                stamp.GetCurrentTime()
                req = WriteRequest(key=args[0], value=" ".join(args[1:]), time=stamp)
                print(MessageToDict(await sg.write_qc(cfg.context(), req).majority()))
            elif cmd == "rpc-read" and len(args) == 2:
                node = cfg.nodes()[int(args[0])]
                print(MessageToDict(await sg.read_rpc(node.context(), ReadRequest(key=args[1]))))
            else:
                print(f"unknown command {line!r}; try help")
        except (gorums_h2.StatusError, gorums_h2.QuorumCallError, IndexError, ValueError) as exc:
            print(f"error: {exc}")
