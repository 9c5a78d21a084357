"""The tracing modes that ``bench_tracing.py`` compares, and the uvicorn server it measures them
through (one process, the mode switched between rounds by a request to ``/bench/mode``).

    python benchmarks/tracing_modes.py PORT ENDPOINT SETTINGS_JSON   (started by bench_tracing)

Modes: ``off`` (the API's no-op tracer, ``RAG_OTEL_EXPORTER=none``); ``again`` (the same
no-op tracer, measured as a mode of its own: its ratio to ``off`` is what the noise alone
gives, the control to read every other ratio against); ``sdk`` (the OpenTelemetry SDK alone:
its tracer, its ``BatchSpanProcessor`` and its ``OTLPSpanExporter`` to ``ENDPOINT``);
``made`` (the service's tracer, ``telemetry.light``, over the SDK's batch processor, spans
discarded: the app's own share of ``on``); ``on`` (as ``RAG_OTEL_EXPORTER=otlp`` installs it:
the service's tracer, its spans exported by the SDK's batch processor and OTLP exporter,
``telemetry.sdk_export``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

MODES = ("off", "again", "sdk", "made", "on")


class Discard(SpanExporter):
    """An exporter that takes every batch and keeps nothing: the app's own cost of its spans,
    without the encoding, the sending and the receiver's work."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) that process ``pid`` has used so far (Linux's ``/proc``)."""
    from pathlib import Path

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpus(spec: str) -> set[int]:
    """CPU numbers as ``taskset -c`` spells them: ``1``, ``0,2``, ``2-3``."""
    found: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def pin(pid: int, where: set[int]) -> None:
    """Every thread of process ``pid`` on the CPUs ``where`` (what they start later inherits
    it); a thread that ended meanwhile is passed over."""
    from pathlib import Path

    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), where)


def children(pid: int) -> list[int]:
    """The processes that process ``pid``'s threads started and that still run."""
    from pathlib import Path

    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found += [int(n) for n in (task / "children").read_text().split()]
    return found


class Tracers:
    """The tracer of each mode, and a flush of every queue."""

    def __init__(self, endpoint: str) -> None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from rag_core.telemetry import light
        from rag_core.telemetry.sdk_export import CountedBatches

        resource = Resource.create({"service.name": "bench_tracing"})
        self.providers = [TracerProvider(resource=resource) for _ in range(3)]
        sdk, made, sent = self.providers
        sdk.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces",
                                                                   timeout=5)))
        discarded = CountedBatches(Discard())
        made.add_span_processor(discarded)
        exported = CountedBatches(OTLPSpanExporter(f"{endpoint}/v1/traces", timeout=5))
        sent.add_span_processor(exported)
        self.modes: dict[str, Any] = {
            "off": trace.NoOpTracer(), "again": trace.NoOpTracer(),
            "sdk": sdk.get_tracer("rag_core"),
            "made": light.tracer_for(made, discarded.put),
            "on": light.tracer_for(sent, exported.put)}

    def use(self, mode: str) -> None:
        from rag_core.telemetry import tracing

        tracing.use_tracer(self.modes[mode])

    def flush(self) -> None:
        for provider in self.providers:
            provider.force_flush(30_000)


def hit_spans() -> None:
    """The spans of a cached answer, made as the app makes them (FastAPI's server span,
    ``Pipeline.answer``): the HTTP server span, current while the app answers;
    ``assistant.query``; two steps; the lookup; the answer's figures on the root."""
    from opentelemetry import context, trace

    from rag_core.telemetry import tracing

    server = tracing.start_span("POST", None, kind="server", **{
        "http.request.method": "POST", "url.path": "/v1/query", "url.scheme": "http"})
    token = context.attach(trace.set_span_in_context(server))  # type: ignore[arg-type]
    root = tracing.start_span("assistant.query", None, **{"user.id_hash": "0123456789abcdef",
                                                          "query.hash": "fedcba9876543210"})
    for name in ("validate", "query_cache"):
        step = tracing.child_span(f"assistant.{name}", root, request_id="rid")
        if name == "query_cache":
            tracing.child_span("cache.lookup query", step, request_id="rid", **{
                "cache.layer": "query", "cache.outcome": "hit", "cache.hit": True}).end()
        step.end()
    for key, value in (("tokens.input", 120), ("tokens.output", 40), ("cost.usd", 0.0),
                       ("no_context", False), ("cache.query", "hit")):
        root.set_attribute(key, value)
    root.end()
    context.detach(token)
    server.update_name("POST /v1/query")
    server.set_attribute("http.route", "/v1/query")
    server.set_attribute("http.response.status_code", 200)
    server.end()


def span_cost(tracers: Tracers, modes: list[str], loops: int = 200, runs: int = 25
              ) -> dict[str, float]:
    """Microseconds of ``hit_spans`` in each mode, on the request's path only: the best of
    ``runs`` runs of ``loops`` (the fastest run is the one least disturbed by other work on the
    machine), the queues flushed between runs (untimed; a run's spans fit in the queue)."""
    import timeit

    cost: dict[str, float] = {}
    for mode in modes:
        tracers.use(mode)
        best = float("inf")
        for _ in range(runs):
            best = min(best, timeit.timeit(hit_spans, number=loops))
            tracers.flush()
        cost[mode] = best / loops * 1e6
    return cost


def counts() -> dict[str, float]:
    """Spans exported and dropped so far in this process."""
    from rag_core.telemetry.metrics import SPANS_DROPPED as DROPPED
    from rag_core.telemetry.metrics import SPANS_EXPORTED as EXPORTED

    dropped = sum(DROPPED.labels(reason=r)._value.get() for r in ("queue_full", "export_failed"))
    return {"exported": EXPORTED._value.get(), "dropped": dropped}


def switchable(app: Any, tracers: Tracers) -> Callable[..., Any]:
    """``app`` with paths of the benchmark's own in front: ``POST /bench/mode?mode=M``,
    ``POST /bench/cpu`` (the CPU time of each request answered since the last ask: this
    process, every thread) and ``POST /bench/flush`` (which answers the span counts). The same
    small work per request in every mode."""

    used: list[float] = []  # CPU ms of this process while each request was answered
    # the process's CPU (every thread, from /proc) at the last ask: a turn's whole CPU, the
    # work the SDK's export thread does between requests included
    mark = [cpu_seconds(os.getpid())]

    async def serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/bench/"):
            start = time.process_time()
            await app(scope, receive, send)
            if path.startswith("/v1/"):  # not the readiness probes
                used.append((time.process_time() - start) * 1000)
            return
        if path == "/bench/mode":
            tracers.use(parse_qs(scope["query_string"].decode())["mode"][0])
            body = b"{}"
        elif path == "/bench/cpu":  # the requests' CPU times since the last ask
            now = cpu_seconds(os.getpid())
            body = json.dumps({"each": used, "turn_ms": (now - mark[0]) * 1000}).encode()
            used.clear()
            mark[0] = now
        else:
            tracers.flush()
            body = json.dumps(counts()).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return serve


def main(port: int, endpoint: str, given: str) -> None:
    """Serve the app on loopback ``port`` with uvicorn, as ``rag-core serve`` runs a worker
    (one process, its event loop, the app's own start-up), tracing switchable."""
    import uvicorn

    from rag_core import heap
    from rag_core.app import create_app
    from rag_core.config import Settings
    from rag_core.parts import build_parts
    from rag_core.text.nlp import nlp

    settings = Settings(**json.loads(given))
    parts = build_parts(settings)
    parts.embedder.load()
    nlp()
    heap.settle()  # as a worker of `rag-core serve` does once ready (rag_core.heap)
    tracers = Tracers(endpoint)
    tracers.use("off")
    app = switchable(create_app(settings, parts=parts), tracers)
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        parts.close()


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
