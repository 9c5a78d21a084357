"""Prometheus metrics, OpenTelemetry spans and JSON logs, in one place.

Metric names are an interface: the alert rules (``deploy/prometheus/alerts.yml``), the Grafana
dashboard (``deploy/grafana/``) and ``docs/runbook.md`` name them, so a name never changes.
Labels stay bounded: never a user id.
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

from prometheus_client import CollectorRegistry, ProcessCollector, disable_created_metrics
from prometheus_client.metrics_core import Metric

from rag_core.config import Settings
from rag_core.safe_metrics import Counter, Gauge, Histogram  # updates never raise

disable_created_metrics()  # no ``*_created`` series next to every counter and histogram

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_hash_var: ContextVar[str | None] = ContextVar("user_hash", default=None)

REGISTRY = CollectorRegistry(auto_describe=True)

STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter("assistant_requests_total", "Questions answered", ["outcome"],
                   registry=REGISTRY)
REQUEST_DURATION = Histogram("assistant_request_duration_seconds", "End-to-end pipeline time",
                             buckets=STEP_BUCKETS, registry=REGISTRY)
STEP_DURATION = Histogram("assistant_step_duration_seconds", "Time per pipeline step", ["step"],
                          buckets=STEP_BUCKETS, registry=REGISTRY)
# Counted once per error served, where the error response (or SSE error event) is rendered.
ERRORS = Counter("assistant_errors_total", "Errors served, by code", ["type"], registry=REGISTRY)
CONCURRENT = Gauge("assistant_concurrent_queries", "Questions being answered right now",
                   registry=REGISTRY, multiprocess_mode="livesum")
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
# a provider's usage checked before billing (``llm.usage``); provider: llm | llm_fallback
USAGE_CHECKED = Counter("llm_usage_checked_total", "Provider usages checked before billing",
                        ["provider"], registry=REGISTRY)
USAGE_REJECTED = Counter("llm_usage_rejected_total", "Provider usages rejected (billed at the "
                         "service's own count)", ["provider", "reason"], registry=REGISTRY)
SETTLE_FAILURES = Counter("cost_settle_failures_total", "Bill settles that failed",
                          registry=REGISTRY)
NO_CONTEXT = Counter("no_context_responses_total", "Answers without relevant notes",
                     registry=REGISTRY)
DEGRADED = Counter("answers_degraded_total", "Answers made from the notes without a model "
                   "while every model failed (RAG_LLM_FALLBACK=extractive)", ["reason"],
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
LLM_MISCONFIGURED = Counter("llm_misconfigured_total",
                            "LLM calls refused for a configuration reason (token, model, URL)",
                            ["reason"], registry=REGISTRY)
# What a cache hit saved: the model call it replaced, priced like spend (0 for an answer the
# free extractive generator made). Beside api_cost_total_dollars: spent vs saved.
SAVED = Counter("cache_saved_dollars", "Dollars the caches saved (the model calls they "
                "replaced)", ["layer"], registry=REGISTRY)
FEEDBACK = Counter("answer_feedback", "Verdicts of users on their answers",
                   ["verdict", "source"], registry=REGISTRY)
# Redis memory, read from INFO by the app (rag_core.redis_kv.memory), in redis_exporter's names.
REDIS_MEMORY_USED = Gauge("redis_memory_used_bytes", "Memory Redis uses (INFO used_memory)",
                          registry=REGISTRY, multiprocess_mode="mostrecent")
REDIS_MEMORY_MAX = Gauge("redis_memory_max_bytes", "Redis maxmemory (0: no cap)",
                         registry=REGISTRY, multiprocess_mode="mostrecent")
# The semantic cache, per lookup: the similarity of the nearest cached question (what the
# threshold is tuned from) and the decision by reason (``reuse``, the refusing rule's code,
# ``below_floor``, ``empty_scope``): a bounded set of codes, never text.
SEMANTIC_NEAREST = Histogram("semantic_cache_nearest_similarity",
                             "Cosine similarity of the nearest cached question per lookup",
                             buckets=tuple(round(0.05 * i, 2) for i in range(1, 21)),
                             registry=REGISTRY)
SEMANTIC_DECISIONS = Counter("semantic_cache_decisions", "Semantic cache decisions by reason",
                             ["reason"], registry=REGISTRY)
SANITISER_FLAGS = Counter("guard_flags_total", "Questions flagged by the sanitiser", ["family"],
                          registry=REGISTRY)


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


ProcessCollector(registry=REGISTRY)  # process_* of this process (one worker)
_WORKER_FILE = re.compile(r"_(\d+)\.db$")


def metrics_text() -> bytes:
    """The Prometheus exposition: of this process, or summed over every worker process when
    ``PROMETHEUS_MULTIPROC_DIR`` is set (``rag-core serve --workers N`` sets it), so that one
    scrape of any worker sees the whole service; then the ``process_*`` series of each live
    worker, labelled with its ``pid`` (a sum of them would mean nothing)."""
    import os

    from prometheus_client import generate_latest

    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_Workers(folder))
        return generate_latest(registry)
    return generate_latest(REGISTRY)


class _Workers:
    """``process_*`` of every worker that writes to the multiprocess folder and still runs (the
    pid is in the names of its files)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def collect(self) -> Iterator[Metric]:
        import os

        pids = sorted({int(m.group(1)) for name in os.listdir(self.folder)
                       if (m := _WORKER_FILE.search(name))})
        merged: dict[str, Metric] = {}
        for pid in pids:
            if not os.path.exists(f"/proc/{pid}"):
                continue
            for family in ProcessCollector(pid=str(pid).__str__, registry=None).collect():
                out = merged.setdefault(family.name, Metric(family.name, family.documentation,
                                                            family.type))
                for sample in family.samples:
                    out.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        yield from merged.values()


def serve_metrics(host: str, port: int) -> bool:
    """Serve ``metrics_text`` on its own port from a daemon thread. With several workers the
    first to bind serves the sum over all of them; the others find the port taken and skip."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from prometheus_client import CONTENT_TYPE_LATEST

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            ok = self.path.split("?")[0] in ("/metrics", "/")
            body = metrics_text() if ok else b"not found\n"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST if ok else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError:
        return False
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return True


def hash_id(value: object) -> str:
    """A short stable hash for span attributes and logs (never the raw id or query).

    Any text hashes, including text that is not valid Unicode (a lone surrogate from JSON such
    as ``"\\ud800"``): it is hashed before validation has refused it, and must not raise."""
    text = value if isinstance(value, str) else repr(value)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# --- tracing ------------------------------------------------------------------------------

_tracer: Any = None


def use_tracer(found: Any) -> None:
    """The tracer spans are made with (``rag_core.telemetry.export.setup`` installs it)."""
    global _tracer
    _tracer = found


def tracer() -> Any:
    global _tracer
    if _tracer is None:
        from opentelemetry import trace

        _tracer = trace.get_tracer("rag_core")
    return _tracer


@contextmanager
def span(name: str, *, end_on_exit: bool = True, kind: str = "internal",
         **attributes: Any) -> Iterator[Any]:
    """An OpenTelemetry span with the request id and the given attributes.

    ``end_on_exit=False`` leaves it open after the block (a streamed answer ends its root span
    when the stream ends). ``kind``: ``internal``, ``server`` or ``client``.
    """
    with tracer().start_as_current_span(name, end_on_exit=end_on_exit, kind=_kind(kind),
                                        attributes=_given(attributes)) as current:
        yield current


def tracing_on() -> bool:
    """Whether the spans ``tracer()`` makes record anything: the API's tracer records only once
    a provider is installed (``export.setup``, or a test's own)."""
    from opentelemetry import trace

    current = tracer()
    if isinstance(current, trace.ProxyTracer):
        return not isinstance(trace.get_tracer_provider(),
                              trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    return not isinstance(current, trace.NoOpTracer)


def inject_trace(headers: Any) -> None:
    """Write the current span as ``traceparent`` into outgoing request headers."""
    from opentelemetry import propagate

    propagate.inject(headers)


def trace_ids() -> tuple[str | None, str | None]:
    """The current trace and span id (hex), or None outside a recorded span."""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def start_span(name: str, start_time: int | None = None, /, *, kind: str = "internal",
               **attributes: Any) -> Any:
    """A started span that is not made current (a request's root span, which lives across
    the yields of a stream); the caller ends it. It continues the trace that is current when
    it starts (an incoming ``traceparent``). ``start_time``: when it began (ns since the
    epoch), for a span recorded after the fact."""
    return tracer().start_span(name, start_time=start_time, kind=_kind(kind),
                               attributes=_given(attributes))


def use_span(current: Any) -> Any:
    """Make ``current`` the active span for a block that does not yield (never ends it)."""
    from opentelemetry import trace

    return trace.use_span(current, end_on_exit=False)


def child_span(name: str, parent: Any, *, request_id: str | None = None,
               start_time: int | None = None, kind: str = "internal",
               **attributes: Any) -> Any:
    """A started span under ``parent`` that is never made current: for work that happens
    between the yields of a generator, where attaching a context would leak across requests.
    The caller ends it. ``start_time`` as in ``start_span``."""
    from opentelemetry import trace

    return tracer().start_span(name, context=trace.set_span_in_context(parent),
                               start_time=start_time, kind=_kind(kind),
                               attributes=_given(attributes, request_id))


def annotate(root: Any, answer: Any) -> None:
    """The answer's figures on the request's root span."""
    root.set_attribute("tokens.input", answer.usage.input_tokens)
    root.set_attribute("tokens.output", answer.usage.output_tokens)
    root.set_attribute("cost.usd", answer.cost_usd)
    root.set_attribute("no_context", answer.no_context)
    for layer, outcome in answer.cache.items():
        root.set_attribute(f"cache.{layer}", outcome)


def _kind(name: str) -> Any:
    if not _KINDS:  # the API's enum, imported once (every span asks)
        from opentelemetry.trace import SpanKind

        _KINDS.update(server=SpanKind.SERVER, client=SpanKind.CLIENT,
                      internal=SpanKind.INTERNAL)
    return _KINDS.get(name, _KINDS["internal"])


_KINDS: dict[str, Any] = {}


def on_current_span(**attributes: Any) -> None:
    """Attributes on whatever span is current (a layer that knows a figure its caller's span
    should show, such as the semantic cache's nearest similarity)."""
    from opentelemetry import trace

    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(_given(attributes, request_id="-"))


def _given(attributes: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
    """A span's attributes: the request id and those of ``attributes`` that have a value;
    given when the span starts (one call, not one per attribute)."""
    given = {key: value for key, value in attributes.items() if value is not None}
    rid = request_id or request_id_var.get()
    if rid and rid != "-":
        given["request.id"] = rid
    return given


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
        trace_id, span_id = trace_ids()
        if trace_id:
            data["trace_id"], data["span_id"] = trace_id, span_id
        if user_hash_var.get():
            data["user_hash"] = user_hash_var.get()
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
    root.setLevel(settings.observability.log_level.upper())
    root.propagate = False


def log_event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    logger.log(level, message, extra={"fields": fields})
