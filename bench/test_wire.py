"""The wire alone: one bidi stream of gorums_h2's gRPC layer to an echo server
in another process; ping-pong round trips/s and pipelined messages/s (100
in flight), with client CPU seconds per 10k messages, on asyncio and trio."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from benchlib.clients import WireClient
from benchlib.runner import InProcessRunner, Sample, ServerPool
from conftest import record

BODY = bytes(32)  # about a gorums envelope with a 16-byte payload


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def wire_runner(request: pytest.FixtureRequest) -> Iterator[InProcessRunner]:
    pool = ServerPool("wire", request.param)
    try:
        runner = InProcessRunner("wire", request.param, pool.ensure(1)[:1])
        try:
            yield runner
        finally:
            runner.close()
    finally:
        pool.close()


def _measure(benchmark: Any, runner: InProcessRunner, name: str, fn: Any, n: int,
             rounds: int) -> None:
    samples: list[Sample] = []
    benchmark.group = f"wire {name}"
    benchmark.pedantic(lambda: samples.append(runner.call(fn, n, BODY)), rounds=rounds,
                       iterations=1, warmup_rounds=1)
    record(f"wire {name}", f"gorums_h2 wire/{runner.backend}", samples[1:])
    benchmark.extra_info.update({
        "messages_per_s": sorted(s.ops_per_s for s in samples[1:])[len(samples[1:]) // 2],
        "cpu_per_10k": sorted(s.cpu_per_10k for s in samples[1:])[len(samples[1:]) // 2],
    })


def test_wire_ping_pong(benchmark: Any, wire_runner: InProcessRunner, rounds: int) -> None:
    _measure(benchmark, wire_runner, "ping-pong", WireClient.ping_pong, 500, rounds)


def test_wire_pipelined(benchmark: Any, wire_runner: InProcessRunner, rounds: int) -> None:
    _measure(benchmark, wire_runner, "pipelined x100", WireClient.pipelined, 5000, rounds)
