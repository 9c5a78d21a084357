"""Every Prometheus series of the service, registered here and nowhere else, and the
exposition (``metrics_text``, ``serve_metrics``).

Metric names are an interface: the alert rules (``deploy/prometheus/alerts.yml``), the Grafana
dashboard (``deploy/grafana/``) and ``docs/runbook.md`` name them, so a name never changes.
Labels stay bounded: never a user id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, disable_created_metrics
from prometheus_client.metrics_core import Metric

from rag_core.telemetry.metric_types import Counter, Gauge, Histogram  # updates never raise

disable_created_metrics()  # no ``*_created`` series next to every counter and histogram

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
# a provider's usage checked before billing (``llm.usage``); provider: llm, llm_fallback,
# llm_cheap
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

# the request limits (``limits.gate``)
RATE_LIMIT_REJECTIONS = Counter("rate_limit_rejections_total",
                                "Questions refused by a request limit", ["limit"],
                                registry=REGISTRY)
RATE_LIMIT_IN_FLIGHT = Gauge("rate_limit_in_flight", "Questions admitted by the request limits "
                             "and not yet answered", registry=REGISTRY,
                             multiprocess_mode="livesum")

# the work slots (``limits.slots``)
WORK_SLOT_WAIT = Histogram("work_slot_wait_seconds", "Time an admitted question waited for a "
                           "work slot of its process (steps 1-5)", registry=REGISTRY,
                           buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                                    5.0))
# load shedding (``limits.shedding``): questions refused for want of capacity, by reason: queue
# (refused at once past the cache, its predicted wait for a slot past its 1 s deadline),
# waiting (refused while waiting for a slot, the same prediction made again from its place in
# the slots' order), deadline (still waiting for a slot at its deadline: the backstop)
# and loop_lag (refused at the ASGI edge, the worker's event loop late: ``api.edge_shed``)
REQUESTS_SHED = Counter("requests_shed_total", "Questions refused for want of capacity "
                        "(503 OVERLOADED, limit work_slots or event_loop), by reason",
                        ["reason"], registry=REGISTRY)
SHED_REPLY_MARGIN = Gauge("shed_reply_margin_seconds", "How much sooner than its 1 s a "
                          "question's wait for a slot ends, so that a refusal made in a worker "
                          "thread is sent by then (limits.shedding.ReplyDelay; the "
                          "most of the live workers)", registry=REGISTRY,
                          multiprocess_mode="livemax")
EVENT_LOOP_LAG = Gauge("event_loop_lag_seconds", "How late the event loop ran its latest due "
                       "callback (limits.loop_lag's probe; the most of the live workers)",
                       registry=REGISTRY, multiprocess_mode="livemax")

# the GenAI conventions' histograms (``telemetry.genai_metrics`` records them, beside the OTel
# SDK's instruments of the same names)
GENAI_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                       16777216, 67108864)
GENAI_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                          20.48, 40.96, 81.92)
GENAI_LABELS = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")
GENAI_TOKEN_USAGE = Histogram("gen_ai_client_token_usage", "Tokens per GenAI operation, by type "
                        "(gen_ai.client.token.usage)", [*GENAI_LABELS, "gen_ai_token_type"],
                        buckets=GENAI_TOKEN_BUCKETS, registry=REGISTRY)
GENAI_DURATION = Histogram("gen_ai_client_operation_duration_seconds", "Time of a GenAI operation "
                     "(gen_ai.client.operation.duration)", [*GENAI_LABELS, "error_type"],
                     buckets=GENAI_DURATION_BUCKETS, registry=REGISTRY)
GENAI_FIRST_CHUNK = Histogram("gen_ai_client_operation_time_to_first_chunk_seconds", "Time to the "
                        "first chunk of a streamed GenAI operation "
                        "(gen_ai.client.operation.time_to_first_chunk)", GENAI_LABELS,
                        buckets=GENAI_DURATION_BUCKETS, registry=REGISTRY)

# the bounded span export (``telemetry.sdk_export``)
SPANS_EXPORTED = Counter("otel_spans_exported_total", "Spans handed to the trace exporter",
                   registry=REGISTRY)
SPANS_DROPPED = Counter("otel_spans_dropped_total", "Spans lost on the way to the trace exporter "
                  "(queue_full, export_failed)", ["reason"], registry=REGISTRY)

# the cache controls a question sets (``cache.control``)
# one per control a question set, labelled with the request's name of it (on /metrics)
CACHE_CONTROLS = Counter("cache_controls_total", "Questions that set a cache control, by "
                         "control", ["control"], registry=REGISTRY)

# HTTP requests, one series (``api.context``; FastAPI's own HTTP metrics are off)
HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["route", "method", "status"],
                        registry=REGISTRY)

# the read replica (``store.replica``)
DB_READS = Counter("db_reads_total", "Reads that may lag, by the server that answered them",
                   ["target", "reason"], registry=REGISTRY)
REPLICA_LAG = Gauge("db_replica_lag_seconds", "Measured lag of the read replica (-1: down)",
                    registry=REGISTRY, multiprocess_mode="mostrecent")

# the PostgreSQL pool (``telemetry.pool`` reads it)
POOL_SIZE = Gauge("db_pool_size", "PostgreSQL connections the pool holds open",
                  registry=REGISTRY, multiprocess_mode="livesum")
POOL_MAX = Gauge("db_pool_max_size", "PostgreSQL connections the pool may open",
                 registry=REGISTRY, multiprocess_mode="livesum")
POOL_IN_USE = Gauge("db_pool_in_use", "PostgreSQL connections lent out now",
                    registry=REGISTRY, multiprocess_mode="livesum")
POOL_WAITING = Gauge("db_pool_waiting", "Requests waiting for a PostgreSQL connection",
                     registry=REGISTRY, multiprocess_mode="livesum")
POOL_REQUESTS = Counter("db_pool_requests", "PostgreSQL connections asked of the pool",
                        registry=REGISTRY)
POOL_WAIT = Counter("db_pool_wait_seconds", "Time requests waited for a PostgreSQL connection",
                    registry=REGISTRY)
POOL_ERRORS = Counter("db_pool_errors", "PostgreSQL pool failures: timeout (no connection in "
                      "time), connect (none could be opened), lost (one found broken)",
                      ["kind"], registry=REGISTRY)

# Redis' connections (``redis_kv.memory`` reads INFO)
# beside redis_memory_*_bytes (above), likewise in redis_exporter's names
REDIS_CLIENTS = Gauge("redis_connected_clients", "Client connections Redis holds (every "
                      "process's, INFO clients)", registry=REGISTRY,
                      multiprocess_mode="mostrecent")
REDIS_MAX_CLIENTS = Gauge("redis_config_maxclients", "The most client connections Redis "
                          "takes (maxclients)", registry=REGISTRY,
                          multiprocess_mode="mostrecent")

# the host: disk, the cgroup's memory, CPUs (``telemetry.host``)
FILESYSTEM_AVAIL = Gauge("filesystem_avail_bytes", "Bytes an unprivileged writer may still use "
                         "on the filesystem under a folder the process writes", ["folder"],
                         registry=REGISTRY, multiprocess_mode="mostrecent")
FILESYSTEM_SIZE = Gauge("filesystem_size_bytes", "Size of the filesystem under a folder the "
                        "process writes", ["folder"], registry=REGISTRY,
                        multiprocess_mode="mostrecent")
CGROUP_MEMORY_MAX = Gauge("cgroup_memory_max_bytes", "The memory limit of the process's "
                          "cgroup (memory.max; 0: none)", registry=REGISTRY,
                          multiprocess_mode="mostrecent")
CGROUP_MEMORY_WORKING_SET = Gauge("cgroup_memory_working_set_bytes", "Memory of that cgroup "
                                  "less its inactive file cache (what its limit is held to)",
                                  registry=REGISTRY, multiprocess_mode="mostrecent")
CPU_CORES = Gauge("process_cpu_cores", "Cores the process may use (affinity, capped by the "
                  "cgroup's CPU quota)", registry=REGISTRY, multiprocess_mode="mostrecent")

# the embedding runtime's fallbacks (``embedding.fallback``)
EMBEDDING_FALLBACKS = Counter("embedding_runtime_fallbacks", "Embedding runtimes that failed "
                              "here and the runtime that took over", ["from", "to"],
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

        def log_message(self, *args: object) -> None:
            return None

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError:
        return False
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return True
