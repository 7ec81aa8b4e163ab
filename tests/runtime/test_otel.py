"""The OpenTelemetry integration, checked with the SDK's in-memory exporters:
client spans and metrics for every call type, server spans, trace context
from client to server, node errors, reconnects, the send-queue gauge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import gorums_h2 as g
from gorums_h2 import _telemetry, otel
from gorums_h2.testing import (
    ECHO_MULTICAST,
    ECHO_QC,
    ECHO_RPC,
    ECHO_UNICAST,
    Echo,
    EchoService,
    StopFunc,
    register_echo_service,
    test_configuration,
)

pytestmark = pytest.mark.anyio

SERVICE = "gorums.testing.TestService"


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self, kind: trace.SpanKind) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.kind == kind]

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [point for rm in data.resource_metrics for sm in rm.scope_metrics
                for metric in sm.metrics if metric.name == name
                for point in metric.data.data_points]

    def srv_fn(self, i: int) -> g.Server:
        server = g.Server(interceptors=[otel.server_interceptor(self.tracer_provider,
                                                                self.meter_provider)])
        register_echo_service(server, EchoService(i))
        return server


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    otel.instrument(t.tracer_provider, t.meter_provider)
    try:
        yield t
    finally:
        otel.uninstrument()


def node_events(span: ReadableSpan) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == "gorums.node"]


async def test_quorum_call_span_server_spans_and_latency(telemetry: Telemetry) -> None:
    async with test_configuration(3, telemetry.srv_fn) as cfg:
        reply = await g.quorum_call(cfg.context(timeout=30), Echo(value="x"), ECHO_QC,
                                    Echo).all()
        assert reply.value == "x"
        ids = sorted(cfg.node_ids())
    [span] = telemetry.finished(trace.SpanKind.CLIENT)
    assert span.name == f"{SERVICE}/EchoQC"
    assert dict(span.attributes or {}) == {
        "rpc.system": "gorums", "rpc.service": SERVICE, "rpc.method": "EchoQC",
        "gorums.call_type": "quorumcall", "gorums.nodes": 3, "gorums.quorum_function": "all",
        "gorums.replies.ok": 3, "gorums.replies.failed": 0}
    assert sorted(e["gorums.node.id"] for e in node_events(span)) == ids
    assert {e["gorums.node.outcome"] for e in node_events(span)} == {"ok"}
    assert span.status.status_code == trace.StatusCode.UNSET
    servers = telemetry.finished(trace.SpanKind.SERVER)
    assert [s.name for s in servers] == [f"{SERVICE}/EchoQC"] * 3
    assert {dict(s.attributes or {})["rpc.grpc.status_code"] for s in servers} == {"OK"}
    [latency] = telemetry.points("gorums.client.call.duration")
    assert dict(latency.attributes) == {
        "rpc.method": ECHO_QC, "gorums.call_type": "quorumcall",
        "gorums.quorum_function": "all", "gorums.outcome": "ok"}
    assert latency.count == 1
    [server_latency] = telemetry.points("gorums.server.request.duration")
    assert server_latency.count == 3
    assert dict(server_latency.attributes) == {"rpc.method": ECHO_QC,
                                               "rpc.grpc.status_code": "OK"}


async def test_every_call_type_and_quorum_function_gets_its_span(telemetry: Telemetry) -> None:
    async with test_configuration(3, telemetry.srv_fn) as cfg:
        ctx = cfg.context(timeout=30)
        node = cfg.nodes()[0]
        await g.rpc_call(node.context(), Echo(value="r"), ECHO_RPC, Echo)
        await g.unicast(node.context(), Echo(value="u"), ECHO_UNICAST)
        await g.multicast(ctx, Echo(value="m"), ECHO_MULTICAST)
        await g.quorum_call(ctx, Echo(value="f"), ECHO_QC, Echo).first()
        await g.quorum_call(ctx, Echo(value="m"), ECHO_QC, Echo).majority()
        await g.quorum_call(ctx, Echo(value="t"), ECHO_QC, Echo).threshold(2)
        await g.quorum_call(ctx, Echo(value="a"), ECHO_QC, Echo).async_majority()
        await g.quorum_call(ctx, Echo(value="c"), ECHO_QC, Echo).correctable(3).wait()
        assert len([r async for r in g.quorum_call(ctx, Echo(value="i"), ECHO_QC, Echo)]) == 3
    got = [(dict(s.attributes or {})["gorums.call_type"],
            dict(s.attributes or {})["gorums.quorum_function"])
           for s in telemetry.finished(trace.SpanKind.CLIENT)]
    assert sorted(got) == sorted([
        ("rpc", "iterate"), ("unicast", "iterate"), ("multicast", "iterate"),
        ("quorumcall", "first"), ("quorumcall", "majority"), ("quorumcall", "threshold"),
        ("quorumcall", "async_majority"), ("quorumcall", "correctable"),
        ("quorumcall", "iterate")])


async def test_a_failed_call_records_the_node_errors(telemetry: Telemetry) -> None:
    stop = StopFunc()
    async with test_configuration(3, telemetry.srv_fn, stop_func=stop) as cfg:
        down = cfg.nodes()[2]
        stop(2)
        await down.wait_disconnected()
        with pytest.raises(g.IncompleteError):
            await g.quorum_call(cfg.context(timeout=30), Echo(value="x"), ECHO_QC, Echo).all()
    [span] = telemetry.finished(trace.SpanKind.CLIENT)
    assert span.status.status_code == trace.StatusCode.ERROR
    assert "IncompleteError" in (span.status.description or "")
    failed = [e for e in node_events(span) if e["gorums.node.outcome"] == "error"]
    assert [(e["gorums.node.id"], e["rpc.grpc.status_code"]) for e in failed] == [
        (down.id, "UNAVAILABLE")]
    [errors] = telemetry.points("gorums.client.node.errors")
    assert errors.value == 1
    assert dict(errors.attributes) == {"rpc.method": ECHO_QC, "gorums.node.id": down.id,
                                       "rpc.grpc.status_code": "UNAVAILABLE"}
    [latency] = telemetry.points("gorums.client.call.duration")
    assert dict(latency.attributes)["gorums.outcome"] == "error"


async def test_trace_context_reaches_the_servers(telemetry: Telemetry) -> None:
    tracer = telemetry.tracer_provider.get_tracer("test")
    async with test_configuration(2, telemetry.srv_fn) as cfg:
        with tracer.start_as_current_span("parent") as parent:
            ctx = cfg.context(timeout=30, metadata=otel.trace_metadata())
            await g.quorum_call(ctx, Echo(value="x"), ECHO_QC, Echo).all()
    trace_id = parent.get_span_context().trace_id
    [client] = telemetry.finished(trace.SpanKind.CLIENT)
    servers = telemetry.finished(trace.SpanKind.SERVER)
    assert client.context.trace_id == trace_id
    assert client.parent is not None and client.parent.span_id == parent.get_span_context().span_id
    assert [s.context.trace_id for s in servers] == [trace_id, trace_id]


async def test_a_failing_handler_fails_both_spans(telemetry: Telemetry) -> None:
    async def fail(ctx: g.ServerCtx, req: Echo) -> Echo:
        raise g.StatusError(g.StatusCode.FAILED_PRECONDITION, "no")

    def srv_fn(i: int) -> g.Server:
        server = telemetry.srv_fn(i)
        server.register_handler(ECHO_RPC, g.unary_handler(fail))  # replaces the echo
        return server

    async with test_configuration(1, srv_fn) as cfg:
        node = cfg.nodes()[0]
        with pytest.raises(g.StatusError):
            await g.rpc_call(node.context(timeout=30), Echo(value="x"), ECHO_RPC, Echo)
    [client] = telemetry.finished(trace.SpanKind.CLIENT)
    [server] = telemetry.finished(trace.SpanKind.SERVER)
    assert client.status.status_code == server.status.status_code == trace.StatusCode.ERROR
    assert [e["rpc.grpc.status_code"] for e in node_events(client)] == ["FAILED_PRECONDITION"]
    assert dict(server.attributes or {})["rpc.grpc.status_code"] == "FAILED_PRECONDITION"
    [server_latency] = telemetry.points("gorums.server.request.duration")
    assert dict(server_latency.attributes)["rpc.grpc.status_code"] == "FAILED_PRECONDITION"


async def test_reconnects_and_send_queue_depth(telemetry: Telemetry) -> None:
    server = telemetry.srv_fn(0)
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(server.serve_tcp, "127.0.0.1", 0)
        async with g.Manager(backoff=g.Backoff(base_delay=0.01, max_delay=0.05)) as mgr:
            cfg = mgr.new_configuration(g.with_node_list([f"{host}:{port}"]))
            node = cfg.nodes()[0]
            await node.wait_connected()
            [depth] = telemetry.points("gorums.client.send_queue.depth")
            assert dict(depth.attributes) == {"gorums.node.address": node.address}
            assert depth.value == 0  # nothing waiting to be written
            server.stop()
            await node.wait_disconnected()
            again = telemetry.srv_fn(0)
            await tg.start(again.serve_tcp, host, port)
            await node.wait_connected()
            [reconnects] = telemetry.points("gorums.client.reconnects")
            assert reconnects.value == 1
            assert dict(reconnects.attributes) == {"gorums.node.address": node.address}
            again.stop()


async def test_uninstrument_removes_every_hook(telemetry: Telemetry) -> None:
    otel.uninstrument()
    assert _telemetry.hooks is None
    async with test_configuration(1) as cfg:
        await g.quorum_call(cfg.context(timeout=30), Echo(value="x"), ECHO_QC, Echo).first()
    assert telemetry.finished(trace.SpanKind.CLIENT) == []
