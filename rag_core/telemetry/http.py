"""The HTTP server span of a request, made by FastAPI's own telemetry (``FastAPI(telemetry=)``,
FastAPI 0.142 and later) through the service's tracer.

FastAPI opens a SERVER span for every request before any middleware runs, continues an incoming
``traceparent``, makes the span current, names it ``{method} {route}`` once the route is known
and ends it when the response's last byte is sent (a streamed answer's last event). It is the
one root of a question's trace: the pipeline's ``assistant.query`` and every step under it are
its children. Left to itself FastAPI would use the global tracer provider; configured here it
uses the tracer the service's spans are made with (``tracing.tracer``: the SDK's, or the
service's own light tracer with ``RAG_OTEL_EXPORTER=otlp``), so that one exporter sees the whole
trace, and makes nothing while tracing is off.

What is turned off, and why: FastAPI's HTTP metrics (``http_requests_total`` from
``api.context`` is the series the alerts read: one series per fact), its log records (the
service writes JSON lines of its own) and its operation spans (three more spans on every
request, a cached answer's cost). The probes and the scrape (``/healthz``, ``/readyz``,
``/metrics``) make no trace: every few seconds, they would bury the questions in the viewer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from starlette.types import Scope

from rag_core.telemetry import tracing

UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})


class ServiceTracer(trace.Tracer):
    """FastAPI's tracer: the service's, as ``tracing.tracer()`` gives it when each span starts (a
    test or ``export.setup`` may change it after the app was built)."""

    def start_span(self, name: str, context: Any = None,
                   kind: trace.SpanKind = trace.SpanKind.INTERNAL,
                   attributes: Mapping[str, Any] | None = None,
                   links: Sequence[trace.Link] | None = None, start_time: int | None = None,
                   record_exception: bool = True, set_status_on_exception: bool = True
                   ) -> trace.Span:
        return tracing.tracer().start_span(
            name, context=context, kind=kind, attributes=attributes, links=links,
            start_time=start_time, record_exception=record_exception,
            set_status_on_exception=set_status_on_exception)

    def start_as_current_span(self, name: str, context: Any = None,
                              kind: trace.SpanKind = trace.SpanKind.INTERNAL,
                              attributes: Mapping[str, Any] | None = None,
                              links: Sequence[trace.Link] | None = None,
                              start_time: int | None = None, record_exception: bool = True,
                              set_status_on_exception: bool = True, end_on_exit: bool = True
                              ) -> Any:  # the API's context manager over the service's span
        started = self.start_span(name, context, kind, attributes, links, start_time,
                                  record_exception, set_status_on_exception)
        return trace.use_span(started, end_on_exit=end_on_exit,
                              record_exception=record_exception,
                              set_status_on_exception=set_status_on_exception)


class ServiceTracerProvider(trace.TracerProvider):
    """What FastAPI asks for its tracer: always the service's."""

    def __init__(self) -> None:
        self.tracer = ServiceTracer()

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return self.tracer


def untraced(scope: Scope) -> bool:
    """FastAPI's ``exclude``: the probes and the scrape, and every request while tracing is
    off (the span would record nothing)."""
    return scope.get("path") in UNTRACED or not tracing.tracing_on()


def fastapi_telemetry() -> TelemetryConfig:
    """The ``telemetry`` argument of the service's ``FastAPI`` (see the module docstring)."""
    return {"tracer_provider": ServiceTracerProvider(), "tracing": True, "metrics": False,
            "logs": False, "operation_spans": False, "exclude": untraced}


def label_request(request_id: str) -> None:
    """The request id on the request's server span (FastAPI's, current here), as on every
    other span of the trace."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attribute("request.id", request_id)
