"""Prometheus metrics, OpenTelemetry spans and JSON logs, in one place.

Metric names are the seeds' (SPEC.md "Observability"). Labels stay bounded: never a user id.
Spans carry hashes of the user id and the query, never the raw values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from rag_core.config import Settings

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

REGISTRY = CollectorRegistry(auto_describe=True)

STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter("assistant_requests_total", "Questions answered", ["outcome"],
                   registry=REGISTRY)
REQUEST_DURATION = Histogram("assistant_request_duration_seconds", "End-to-end pipeline time",
                             buckets=STEP_BUCKETS, registry=REGISTRY)
STEP_DURATION = Histogram("assistant_step_duration_seconds", "Time per pipeline step", ["step"],
                          buckets=STEP_BUCKETS, registry=REGISTRY)
ERRORS = Counter("assistant_errors_total", "Errors by code", ["type"], registry=REGISTRY)
CACHE_HITS = Counter("cache_hits_total", "Cache hits", ["layer"], registry=REGISTRY)
CACHE_MISSES = Counter("cache_misses_total", "Cache misses", ["layer"], registry=REGISTRY)
CACHE_ERRORS = Counter("cache_errors_total", "Cache backend failures (served uncached)",
                       ["layer"], registry=REGISTRY)
CACHE_SIZE = Gauge("cache_size", "Entries per cache layer", ["layer"], registry=REGISTRY,
                   multiprocess_mode="mostrecent")
# A gauge that only goes up: a Counter would be exposed as api_cost_total_dollars_total, and
# the seeds' dashboards query api_cost_total_dollars.
COST = Gauge("api_cost_total_dollars", "Money spent on the LLM (only increases)",
             registry=REGISTRY, multiprocess_mode="sum")
TOKENS = Counter("api_tokens_used_total", "LLM tokens", ["kind"], registry=REGISTRY)
NO_CONTEXT = Counter("no_context_responses_total", "Answers without relevant notes",
                     registry=REGISTRY)
TRUNCATIONS = Counter("assistant_truncations_total", "Questions cut to the query budget",
                      registry=REGISTRY)
BREAKER_STATE = Gauge("circuit_breaker_state", "0 closed, 1 half-open, 2 open", ["name"],
                      registry=REGISTRY, multiprocess_mode="mostrecent")
VECTOR_SEARCH = Histogram("vector_search_duration_seconds", "Time of the store search",
                          buckets=STEP_BUCKETS, registry=REGISTRY)
RELEVANCE = Histogram("context_relevance_score", "Best similarity of the retrieved chunks",
                      buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
                      registry=REGISTRY)
BUDGET_ALERTS = Counter("budget_alerts_total", "Budget thresholds crossed", ["scope", "level"],
                        registry=REGISTRY)
SANITISER_FLAGS = Counter("guard_flags_total", "Questions flagged by the sanitiser", ["family"],
                          registry=REGISTRY)


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_text() -> bytes:
    """The Prometheus exposition: of this process, or summed over every worker process when
    ``PROMETHEUS_MULTIPROC_DIR`` is set (``rag-core serve --workers N`` sets it), so that one
    scrape of any worker sees the whole service."""
    import os

    from prometheus_client import generate_latest

    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def hash_id(value: object) -> str:
    """A short stable hash for span attributes and logs (never the raw id or query).

    Any text hashes, including text that is not valid Unicode (a lone surrogate from JSON such
    as ``"\\ud800"``): it is hashed before validation has refused it, and must not raise."""
    text = value if isinstance(value, str) else repr(value)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# --- tracing ------------------------------------------------------------------------------

_tracer: Any = None


def setup_tracing(settings: Settings) -> None:
    """Install a tracer provider with the exporter that Settings names (none by default)."""
    global _tracer
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    if settings.otel_exporter == "none":
        _tracer = trace.get_tracer("rag_core")
        return
    provider = TracerProvider(resource=Resource.create({"service.name": "rag_core"}))
    if settings.otel_exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint) if settings.otel_endpoint \
            else OTLPSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("rag_core")


def tracer() -> Any:
    global _tracer
    if _tracer is None:
        from opentelemetry import trace

        _tracer = trace.get_tracer("rag_core")
    return _tracer


@contextmanager
def span(name: str, *, end_on_exit: bool = True, **attributes: Any) -> Iterator[Any]:
    """An OpenTelemetry span with the request id and the given attributes.

    ``end_on_exit=False`` leaves it open after the block (a streamed answer ends its root span
    when the stream ends).
    """
    with tracer().start_as_current_span(name, end_on_exit=end_on_exit) as current:
        _describe(current, attributes)
        yield current


def child_span(name: str, parent: Any, **attributes: Any) -> Any:
    """A started span under ``parent`` that is never made current: for work that happens
    between the yields of a generator, where attaching a context would leak across requests.
    The caller ends it."""
    from opentelemetry import trace

    current = tracer().start_span(name, context=trace.set_span_in_context(parent))
    _describe(current, attributes)
    return current


def _describe(current: Any, attributes: dict[str, Any]) -> None:
    rid = request_id_var.get()
    if rid:
        current.set_attribute("request.id", rid)
    for key, value in attributes.items():
        if value is not None:
            current.set_attribute(key, value)


# --- logging ------------------------------------------------------------------------------

_SECRET_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-_.=]+"), r"\1***"),
    (re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), "***jwt***"),
    (re.compile(r"\bhf_[A-Za-z0-9]{6,}"), "hf_***"),
    (re.compile(r"(?i)((?:api[_-]?key|token|secret|password)\s*[=:]\s*)\S+"), r"\1***"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
]


def mask_secrets(text: str) -> str:
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


_SECRET_KEY = re.compile(r"(?i)authorization|token|secret|password|passwd|api[_-]?key|cookie")


def _mask_field(key: str, value: Any) -> Any:
    """A log field with secrets masked: by its name, in strings, and inside dicts and lists."""
    if _SECRET_KEY.search(key) and isinstance(value, str | bytes) and value:
        return "***"
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: _mask_field(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_mask_field(key, v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
            "request_id": request_id_var.get(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            data.update({k: _mask_field(k, v) for k, v in extra.items()})
        if record.exc_info:
            data["exc"] = mask_secrets(self.formatException(record.exc_info))
        return json.dumps(data, default=str)


def setup_logging(settings: Settings) -> None:
    root = logging.getLogger("rag_core")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    root.propagate = False


def log_event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    logger.log(level, message, extra={"fields": fields})
