"""otel's durations are read on the event loop's clock (issue 15, item 5), on
trio's ``MockClock``: a separate module because it needs the optional [otel]
extra, which the floor-versions run (.ci/min-versions) does not install."""

from __future__ import annotations

import time

import anyio
import trio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from trio.testing import MockClock

import gorums_h2 as g
from gorums_h2 import otel
from gorums_h2.testing import EchoService, register_echo_service, test_configuration
from gorums_h2.testing.services import ECHO_QC
from gorums_h2.testing.testing_pb2 import Echo

TIMEOUT = 3600.0  # virtual seconds


def test_telemetry_times_calls_on_the_loops_clock() -> None:
    """otel's call and handler durations read the loop's clock: a handler
    that sleeps a virtual minute records a minute, in no wall time."""
    reader = InMemoryMetricReader()
    meters, tracers = MeterProvider(metric_readers=[reader]), TracerProvider()

    def slow_server(index: int) -> g.Server:
        server = g.Server(interceptors=[otel.server_interceptor(tracers, meters)])
        service = EchoService(index)

        async def echo_qc(ctx: g.ServerCtx, req: Echo) -> Echo:
            await anyio.sleep(60.0)
            return req

        service.echo_qc = echo_qc  # type: ignore[method-assign]
        register_echo_service(server, service)
        return server

    async def main() -> None:
        async with test_configuration(3, slow_server) as cfg:
            for node in cfg.nodes():
                await node.wait_connected()
            with trio.move_on_after(TIMEOUT):
                await g.quorum_call(cfg.context(), Echo(value="t"), ECHO_QC, Echo).all()

    otel.instrument(tracers, meters)
    try:
        wall_start = time.monotonic()
        trio.run(main, clock=MockClock(autojump_threshold=0))
        wall = time.monotonic() - wall_start
    finally:
        otel.uninstrument()
    data = reader.get_metrics_data()
    assert data is not None
    sums = {metric.name: [(p.count, p.sum) for p in metric.data.data_points]
            for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
            if metric.name.endswith(".duration")}
    [(calls, call_seconds)] = sums["gorums.client.call.duration"]
    [(handled, handler_seconds)] = sums["gorums.server.request.duration"]
    assert calls == 1 and 60.0 <= call_seconds < 70.0
    assert handled == 3 and 180.0 <= handler_seconds < 200.0
    assert wall < 30.0  # a virtual minute per handler, not a wall one
