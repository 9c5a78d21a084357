"""Where traces and metrics go (``RAG_OTEL_EXPORTER``): nowhere (``none``, the default), to
stderr (``console``) or over OTLP/HTTP (``otlp``) to the standard ``OTEL_EXPORTER_OTLP_*``
endpoint, which the OpenTelemetry SDK reads.

A question never waits for the exporter: finished spans go into a bounded queue that a daemon
thread empties in batches (``BoundedExport``). A full queue drops the span, an export that fails
or times out drops its batch, and both are counted in ``otel_spans_dropped_total{reason}``; an
exporter that is down or hangs costs the traces, never an answer. A bad ``OTEL_*`` value (an
endpoint that is not an http(s) URL, a timeout that is not a number) is refused at start
(``check_environment``), naming the variable.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from prometheus_client import Counter

from rag_core import observability as obs
from rag_core.errors import InvalidSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                      "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
NUMBER_VARIABLES = ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_METRIC_EXPORT_INTERVAL")
MAX_QUEUE = 2048  # finished spans waiting for the exporter; more are dropped
BATCH = 512
INTERVAL_S = 1.0  # the longest a span waits in the queue before its batch is sent
EXPORT_TIMEOUT_S = 5.0  # an export's own bound, unless OTEL_EXPORTER_OTLP_TIMEOUT says

EXPORTED = Counter("otel_spans_exported_total", "Spans handed to the trace exporter",
                   registry=obs.REGISTRY)
DROPPED = Counter("otel_spans_dropped_total", "Spans lost on the way to the trace exporter "
                  "(queue_full, export_failed)", ["reason"], registry=obs.REGISTRY)


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """``InvalidSettings`` naming the first ``OTEL_*`` variable whose value cannot work."""
    env = os.environ if environ is None else environ
    for name in ENDPOINT_VARIABLES:
        value = env.get(name, "").strip()
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidSettings(f"{name} must be an http:// or https:// URL with a host, "
                                  f"not {value!r}")
        try:
            parts.port  # noqa: B018 (a port that is no number raises here)
        except ValueError:
            raise InvalidSettings(f"{name} has a port that is not a number: {value!r}") from None
    for name in NUMBER_VARIABLES:
        value = env.get(name, "").strip()
        if value and not value.replace(".", "", 1).isdigit():
            raise InvalidSettings(f"{name} must be a number, not {value!r}")


class BoundedExport:
    """A span processor: finished spans into a bounded queue, exported in batches by a daemon
    thread (see the module docstring)."""

    def __init__(self, exporter: Any, *, max_queue: int = MAX_QUEUE, batch: int = BATCH,
                 interval_s: float = INTERVAL_S) -> None:
        self.exporter = exporter
        self.max_queue, self.batch, self.interval_s = max_queue, batch, interval_s
        self.queue: deque[Any] = deque()
        self.cond = threading.Condition()
        self.busy = False  # a batch is being exported
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="otel-export", daemon=True)
        self.thread.start()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def _on_ending(self, span: Any) -> None:
        return None

    def on_end(self, span: Any) -> None:
        if span.context.trace_flags.sampled:
            self.put(span)

    def put(self, span: Any) -> None:
        """A finished, sampled span into the queue. No lock on the request's path: a deque's
        append is atomic, so the bound may be overshot by the few spans that race past the
        check; the export thread is woken only when a batch is full (else its interval)."""
        if self.stopped or len(self.queue) >= self.max_queue:
            DROPPED.labels(reason="queue_full").inc()
            return
        self.queue.append(span)
        if len(self.queue) == self.batch:
            with self.cond:
                self.cond.notify_all()

    def _take(self) -> list[Any]:
        with self.cond:
            if not self.queue and not self.stopped:
                self.cond.wait(self.interval_s)
            taken = [self.queue.popleft() for _ in range(min(self.batch, len(self.queue)))]
            self.busy = bool(taken)
            return taken

    def _run(self) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        from rag_core.telemetry.light import readable

        while True:
            batch = self._take()
            if batch:
                try:
                    ok = self.exporter.export([readable(span) for span in batch]) \
                        == SpanExportResult.SUCCESS
                except Exception:  # the exporter's own failure: the batch is lost, not the app
                    ok = False
                if ok:
                    EXPORTED.inc(len(batch))
                else:
                    DROPPED.labels(reason="export_failed").inc(len(batch))
            with self.cond:
                self.busy = False
                self.cond.notify_all()
                if self.stopped and not self.queue:
                    return

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait (at most ``timeout_millis``) until every span queued so far is exported."""
        deadline = time.monotonic() + timeout_millis / 1000
        with self.cond:
            self.cond.notify_all()
            while self.queue or self.busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.05))
                self.cond.notify_all()
        return True

    def shutdown(self) -> None:
        self.force_flush(int(EXPORT_TIMEOUT_S * 1000))
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
        self.exporter.shutdown()


_installed: str | None = None


def setup(exporter: str, service: str = "rag_core") -> None:
    """Install the tracer (and, for ``otlp``, the meter) provider that ``exporter`` names
    (``RAG_OTEL_EXPORTER``); ``none`` installs nothing (the API's no-op tracer)."""
    global _installed
    from opentelemetry import trace

    if exporter == "none" or _installed is not None:  # a provider is set once per process
        obs.use_tracer(trace.get_tracer("rag_core"))
        return
    check_environment()
    _installed = exporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create({"service.name": service})
    provider = TracerProvider(resource=resource)
    if exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        timeout = float(os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT") or EXPORT_TIMEOUT_S)
        bounded = BoundedExport(OTLPSpanExporter(timeout=timeout))
        provider.add_span_processor(cast("SpanProcessor", bounded))
        _setup_metrics(resource)
    trace.set_tracer_provider(provider)
    if exporter == "console":  # a debugging aid: the SDK's own spans, printed as they end
        obs.use_tracer(trace.get_tracer("rag_core"))
    else:  # the service's spans, light on the request's path (``telemetry.light``)
        from rag_core.telemetry import light

        obs.use_tracer(light.tracer_for(provider, bounded.put))


def _setup_metrics(resource: Any) -> None:
    """The GenAI metrics over OTLP too (``telemetry.genai_metrics``), exported every
    ``OTEL_METRIC_EXPORT_INTERVAL`` ms (the SDK's default: 60 s) by the SDK's own thread."""
    from opentelemetry import metrics
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))

