"""OpenTelemetry for gorums_h2: client call spans and metrics, server request spans.

Optional: ``pip install 'gorums-h2[otel]'`` (``opentelemetry-api``; bring an
SDK and exporters of your choice). Nothing of it is imported unless this
module is, and the runtime pays one None test per call while nothing is
instrumented (docs/telemetry.md)::

    from gorums_h2 import otel

    otel.instrument()        # every Manager's calls, from now on
    server = gorums_h2.Server(interceptors=[otel.server_interceptor()])

Client (:func:`instrument`): one CLIENT span per call, named
``<service>/<method>`` with ``rpc.system=gorums``, ``rpc.service``,
``rpc.method``, ``gorums.call_type`` (rpc, unicast, multicast, quorumcall,
quorumcall_stream), ``gorums.nodes``, ``gorums.quorum_function`` (first,
majority, all, threshold, async_*, correctable, or iterate), the reply
counts, and a ``gorums.node`` event per node outcome (node id, ok or the
error with its gRPC status). Metrics: ``gorums.client.call.duration``
(seconds; by method, call type, quorum function and outcome),
``gorums.client.node.errors`` (by method, node and status code),
``gorums.client.reconnects`` (by node address) and
``gorums.client.send_queue.depth`` (bytes queued but not yet written, per
connected node).

Server (:func:`server_interceptor`): one SERVER span per request, a child of
the caller's trace when the request carries W3C ``traceparent`` metadata
(:func:`trace_metadata` makes it), and ``gorums.server.request.duration``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.propagators.textmap import Getter

from gorums_h2 import _telemetry
from gorums_h2._version import __version__
from gorums_h2.wire.clock import loop_clock
from gorums_h2.wire.status import StatusCode, StatusError

if TYPE_CHECKING:
    from gorums_h2.channel import NodeChannel
    from gorums_h2.message import Message
    from gorums_h2.server import Handler, Interceptor, ServerCtx
    from gorums_h2.wire.metadata import Metadata

__all__ = ["ClientTelemetry", "instrument", "server_interceptor", "trace_metadata",
           "uninstrument"]

SCOPE = "gorums_h2"


def _names(method: str) -> tuple[str, str]:
    """(service, method) of a full method name ``pkg.Service.Method``."""
    service, _, name = method.rpartition(".")
    return service, name


def _status(err: BaseException) -> str:
    code = err.code if isinstance(err, StatusError) else StatusCode.UNKNOWN
    return code.name


class _Call:
    """A call's span and clock (implements ``_telemetry.CallObservation``)."""

    __slots__ = ("_clock", "_failed", "_method", "_ok", "_owner", "_span", "_start", "_type",
                 "quorum")

    def __init__(self, owner: ClientTelemetry, method: str, call_type: str, nodes: int) -> None:
        service, name = _names(method)
        self._owner = owner
        self._method = method
        self._type = call_type
        self.quorum: str | None = None
        self._ok = 0
        self._failed = 0
        self._span = owner.tracer.start_span(
            f"{service}/{name}", kind=trace.SpanKind.CLIENT,
            attributes={"rpc.system": "gorums", "rpc.service": service, "rpc.method": name,
                        "gorums.call_type": call_type, "gorums.nodes": nodes})
        # the loop's clock (virtual under trio's MockClock), readable at the end
        # from any callback of that loop
        self._clock = loop_clock()
        self._start = self._clock()

    def node_done(self, node_id: int, err: BaseException | None) -> None:
        if err is None:
            self._ok += 1
            self._span.add_event("gorums.node", {"gorums.node.id": node_id,
                                                 "gorums.node.outcome": "ok"})
            return
        self._failed += 1
        status = _status(err)
        self._span.add_event("gorums.node", {
            "gorums.node.id": node_id, "gorums.node.outcome": "error",
            "rpc.grpc.status_code": status, "exception.type": type(err).__name__,
            "exception.message": str(err)})
        self._owner.node_errors.add(1, {"rpc.method": self._method, "gorums.node.id": node_id,
                                        "rpc.grpc.status_code": status})

    def end(self, err: BaseException | None) -> None:
        quorum = self.quorum or "iterate"
        span = self._span
        span.set_attributes({"gorums.quorum_function": quorum, "gorums.replies.ok": self._ok,
                             "gorums.replies.failed": self._failed})
        if err is not None:
            span.record_exception(err)
            span.set_status(trace.Status(trace.StatusCode.ERROR,
                                         f"{type(err).__name__}: {err}"))
        span.end()
        self._owner.duration.record(self._clock() - self._start, {
            "rpc.method": self._method, "gorums.call_type": self._type,
            "gorums.quorum_function": quorum, "gorums.outcome": "ok" if err is None else "error"})


class ClientTelemetry:
    """The client-side instruments (implements ``_telemetry.CallHooks``);
    :func:`instrument` installs one."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        self.duration = meter.create_histogram(
            "gorums.client.call.duration", unit="s",
            description="Duration of client calls, from sending to the call's result")
        self.node_errors = meter.create_counter(
            "gorums.client.node.errors", unit="{error}",
            description="Failed node replies of client calls")
        self.reconnects = meter.create_counter(
            "gorums.client.reconnects", unit="{reconnect}",
            description="NodeStreams established again after a connection was lost")
        meter.create_observable_gauge(
            "gorums.client.send_queue.depth", [self._queue_depths], unit="By",
            description="Bytes queued for a node but not yet written to its connection")
        # channel -> times connected (weak: a closed manager's channels go away)
        self._channels: weakref.WeakKeyDictionary[NodeChannel, int] = (
            weakref.WeakKeyDictionary())

    def start_call(self, method: str, call_type: str, nodes: int) -> _Call:
        return _Call(self, method, call_type, nodes)

    def connected(self, channel: NodeChannel) -> None:
        count = self._channels.get(channel, 0)
        self._channels[channel] = count + 1
        if count:
            self.reconnects.add(1, {"gorums.node.address": channel.address})

    def _queue_depths(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for channel in list(self._channels):
            stream = channel.stream
            if stream is not None:
                yield metrics.Observation(stream.queued - stream.written,
                                          {"gorums.node.address": channel.address})


def instrument(tracer_provider: trace.TracerProvider | None = None,
               meter_provider: metrics.MeterProvider | None = None) -> ClientTelemetry:
    """Trace and measure every client call from now on (all managers).

    Uses the global providers unless given. Returns the installed
    instruments; calling it again replaces them.
    """
    telemetry = ClientTelemetry(tracer_provider, meter_provider)
    _telemetry.install(telemetry)
    return telemetry


def uninstrument() -> None:
    """Stop tracing client calls (the runtime is back to no telemetry at all)."""
    _telemetry.install(None)


# ---- trace context across the wire ----


def trace_metadata() -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``, ...), to send
    as per-call metadata: ``cfg.context(metadata=otel.trace_metadata())``."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


class _MetadataGetter(Getter["Metadata"]):
    def get(self, carrier: Metadata, key: str) -> list[str] | None:
        values = [v for v in carrier.get_all(key) if isinstance(v, str)]
        return values or None

    def keys(self, carrier: Metadata) -> list[str]:
        return list(carrier)


_GETTER = _MetadataGetter()


def server_interceptor(tracer_provider: trace.TracerProvider | None = None,
                       meter_provider: metrics.MeterProvider | None = None) -> Interceptor:
    """A server interceptor making a SERVER span per request and measuring
    ``gorums.server.request.duration`` (seconds; by method and status code).

    Put it first in ``Server(interceptors=[...])`` to time the others too.
    """
    tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
    meter = metrics.get_meter(SCOPE, __version__, meter_provider)
    duration = meter.create_histogram(
        "gorums.server.request.duration", unit="s",
        description="Duration of server handlers, per request")

    async def interceptor(ctx: ServerCtx, request: Message[Any],
                          next_handler: Handler) -> Message[Any] | None:
        service, name = _names(ctx.method)
        parent = propagate.extract(ctx.metadata, getter=_GETTER)
        attributes: Mapping[str, str | int] = {
            "rpc.system": "gorums", "rpc.service": service, "rpc.method": name,
            "gorums.seq_no": ctx.seq_no}
        clock = loop_clock()
        start = clock()
        code = StatusCode.OK
        with tracer.start_as_current_span(f"{service}/{name}", context=parent,
                                          kind=trace.SpanKind.SERVER, attributes=attributes,
                                          record_exception=False,
                                          set_status_on_exception=False) as span:
            try:
                return await next_handler(ctx, request)
            except Exception as exc:
                code = exc.code if isinstance(exc, StatusError) else StatusCode.UNKNOWN
                span.record_exception(exc)
                span.set_status(trace.Status(trace.StatusCode.ERROR,
                                             f"{type(exc).__name__}: {exc}"))
                raise
            finally:
                span.set_attribute("rpc.grpc.status_code", code.name)
                duration.record(clock() - start, {
                    "rpc.method": ctx.method, "rpc.grpc.status_code": code.name})

    return interceptor
