"""Where traces and metrics go (``RAG_OTEL_EXPORTER``): nowhere (``none``, the default), to
stderr (``console``) or over OTLP/HTTP (``otlp``) to the standard ``OTEL_EXPORTER_OTLP_*``
endpoint, which the OpenTelemetry SDK reads.

A question never waits for the exporter: ended spans go to the OpenTelemetry SDK's own batch
processor and OTLP exporter (``sdk_export.CountedBatches``), whose bounded queue drops and counts
what an exporter that is down or hangs cannot take. A bad
``OTEL_*`` value (an endpoint that is not an http(s) URL, a timeout that is not a number) is
refused at start (``check_environment``), naming the variable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rag_core.errors import InvalidSettings
from rag_core.telemetry import tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                      "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
NUMBER_VARIABLES = ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_METRIC_EXPORT_INTERVAL")
EXPORT_TIMEOUT_S = 5.0  # an export's own bound, unless OTEL_EXPORTER_OTLP_TIMEOUT says


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


_installed: str | None = None


def setup(exporter: str, service: str = "rag_core") -> None:
    """Install the tracer (and, for ``otlp``, the meter) provider that ``exporter`` names
    (``RAG_OTEL_EXPORTER``); ``none`` installs nothing (the API's no-op tracer)."""
    global _installed
    from opentelemetry import trace

    if exporter == "none" or _installed is not None:  # a provider is set once per process
        tracing.use_tracer(trace.get_tracer("rag_core"))
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

        from rag_core.telemetry.sdk_export import CountedBatches  # lazy: with OTLP only

        timeout = float(os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT") or EXPORT_TIMEOUT_S)
        bounded = CountedBatches(OTLPSpanExporter(timeout=timeout))
        provider.add_span_processor(bounded)
        _setup_metrics(resource)
    trace.set_tracer_provider(provider)
    if exporter == "console":  # a debugging aid: the SDK's own spans, printed as they end
        tracing.use_tracer(trace.get_tracer("rag_core"))
    else:  # the service's spans, light on the request's path (``telemetry.light``): the SDK's
        # own spans cost a cached answer +26 % CPU served, the light ones +17 % (docs/benchmarks.md)
        from rag_core.telemetry import light  # lazy: with OTLP only

        tracing.use_tracer(light.tracer_for(provider, bounded.put))


def _setup_metrics(resource: Resource) -> None:
    """The GenAI metrics over OTLP too (``telemetry.genai_metrics``), exported every
    ``OTEL_METRIC_EXPORT_INTERVAL`` ms (the SDK's default: 60 s) by the SDK's own thread."""
    from opentelemetry import metrics
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))

