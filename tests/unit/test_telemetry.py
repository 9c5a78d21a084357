"""The telemetry's own parts, without the app: the OTEL_* checks of ``serve``, the bounded span
export (an exporter that is down or hangs costs spans, counted, never a caller's time), the
GenAI conventions' names under ``OTEL_SEMCONV_STABILITY_OPT_IN``, the ``chat`` span's content
only when captured, and the ``process_*`` series of each live worker."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rag_core import services
from rag_core.cli import main as cli
from rag_core.errors import InvalidSettings
from rag_core.procs import wait_until
from rag_core.telemetry import export, metrics, sdk_export, tracing
from rag_core.telemetry import semconv as sc
from rag_core.telemetry.chat import Chat, ChatRequest, finish_reason

# --- bad OTEL_* values ---------------------------------------------------------------------------


@pytest.fixture
def served_with(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs, app=app))
    monkeypatch.setattr(services, "ensure_services", lambda settings: settings)
    monkeypatch.setenv("RAG_PROFILE", "dev")
    return seen


@pytest.mark.parametrize("name", ["OTEL_EXPORTER_OTLP_ENDPOINT",
                                  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
def test_serve_refuses_an_otlp_endpoint_that_is_not_a_url(
        served_with: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], name: str) -> None:
    monkeypatch.setenv(name, "localhost:4318")
    assert cli.main(["serve", "--port", "8123"]) == 2
    err = capsys.readouterr().err
    assert "error INVALID_SETTINGS" in err and name in err
    assert served_with == {}  # nothing started


def test_serve_starts_with_a_good_endpoint(served_with: dict[str, Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert cli.main(["serve", "--port", "8123"]) == 0
    assert served_with["app"] == "rag_core.app:app"


@pytest.mark.parametrize(("env", "named"), [
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://"}, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:port"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ({"OTEL_EXPORTER_OTLP_TIMEOUT": "ten"}, "OTEL_EXPORTER_OTLP_TIMEOUT"),
])
def test_each_bad_value_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidSettings, match=named):
        export.check_environment(env)


def test_good_values_pass() -> None:
    export.check_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example:4318/",
                              "OTEL_EXPORTER_OTLP_TIMEOUT": "2.5",
                              "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""})


# --- the bounded export ---------------------------------------------------------------------------


class Hanging(SpanExporter):
    """An exporter that blocks until released (a collector that accepts and never answers)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.calls += 1
        self.release.wait()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


class Down(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        raise ConnectionRefusedError("nothing listens there")

    def shutdown(self) -> None:
        return None


def _provider(processor: Any) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider


def _dropped(reason: str) -> float:
    return metrics.SPANS_DROPPED.labels(reason=reason)._value.get()


def test_a_hanging_exporter_fills_the_queue_and_spans_beyond_it_are_dropped() -> None:
    hanging = Hanging()
    processor = sdk_export.CountedBatches(hanging, max_queue=5, batch=1, interval_ms=10)
    tracer = _provider(processor).get_tracer("t")
    with tracer.start_as_current_span("first"):
        pass
    wait_until(lambda: hanging.calls == 1, 30, "the exporter to be called")  # now it hangs
    before = _dropped("queue_full")
    for n in range(8):  # each returns at once: ending a span never waits for the exporter
        with tracer.start_as_current_span(f"s{n}"):
            pass
    assert _dropped("queue_full") - before == 3  # 5 queued, 3 dropped and counted
    hanging.release.set()
    assert processor.force_flush(30_000)
    processor.shutdown()


def test_an_exporter_that_is_down_drops_its_batches_and_counts_them() -> None:
    processor = sdk_export.CountedBatches(Down(), batch=2, interval_ms=10)
    tracer = _provider(processor).get_tracer("t")
    before = _dropped("export_failed")
    for n in range(4):
        with tracer.start_as_current_span(f"s{n}"):
            pass
    wait_until(lambda: _dropped("export_failed") - before == 4, 30, "the failures counted")
    processor.shutdown()


def test_the_sdk_is_never_patched() -> None:
    """The spans are sent by the SDK's own exporter with its own encoder: no module of the
    service assigns anything to an OpenTelemetry module (the export process of before set the
    exporter's ``encode_spans``)."""
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    assert trace_exporter.encode_spans.__module__.startswith("opentelemetry.exporter.otlp")
    root = Path(__file__).resolve().parents[2] / "rag_core"
    patched = [str(path) for path in root.rglob("*.py")
               if re.search(r"^\s*(trace_exporter|opentelemetry)\.[\w.]+\s*=[^=]",
                            path.read_text(), re.M)]
    assert patched == []


# --- GenAI conventions ----------------------------------------------------------------------------


def test_the_latest_conventions_only_when_opted_in() -> None:
    assert not sc.latest({})
    assert sc.latest({sc.OPT_IN_ENV: "http, gen_ai_latest_experimental"})
    assert sc.provider_attributes("x", {}) == {"gen_ai.provider.name": "x", "gen_ai.system": "x"}
    assert sc.provider_attributes("x", {sc.OPT_IN_ENV: sc.LATEST}) == {
        "gen_ai.provider.name": "x"}


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("rag_core"))
    return exporter


def _chat(question: str | None) -> Chat:
    parent = tracing.start_span("assistant.generate")
    return Chat(parent, ChatRequest("hf", "m1", "http://127.0.0.1:9/v1", 64,
                                    question=question), "rid")


@pytest.mark.parametrize("opt_in", ["", sc.LATEST])
def test_question_and_answer_text_only_when_captured(spans: InMemorySpanExporter,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     opt_in: str) -> None:
    monkeypatch.setenv(sc.OPT_IN_ENV, opt_in)
    _chat(None).finish(10, 5, finish_reason="stop", answer=None)
    _chat("What is faith?").finish(10, 5, finish_reason="stop", answer="Trust.")
    plain, captured = spans.get_finished_spans()
    assert plain.name == captured.name == "chat m1"
    assert not plain.events and sc.INPUT_MESSAGES not in plain.attributes
    text = repr(dict(captured.attributes)) + repr([dict(e.attributes) for e in captured.events])
    assert "What is faith?" in text and "Trust." in text
    if opt_in:
        assert "gen_ai.system" not in captured.attributes and not captured.events
        assert '"role": "user"' in captured.attributes[sc.INPUT_MESSAGES]
    else:
        assert [e.name for e in captured.events] == ["gen_ai.user.message", "gen_ai.choice"]
        assert captured.attributes["gen_ai.system"] == "openai_compatible"
    assert captured.attributes["server.address"] == "127.0.0.1"
    assert captured.attributes["server.port"] == 9


def test_a_failed_call_has_its_error_type(spans: InMemorySpanExporter) -> None:
    _chat(None).fail("LLM_UNAVAILABLE")
    (failed,) = spans.get_finished_spans()
    assert failed.attributes["error.type"] == "LLM_UNAVAILABLE"
    assert not failed.status.is_ok


def test_the_finish_reason_is_the_servers_else_read_from_the_budget() -> None:
    assert finish_reason(10, 64, "content_filter") == "content_filter"
    assert finish_reason(64, 64) == "length"
    assert finish_reason(12, 64) == "stop"


# --- process_* of each worker ---------------------------------------------------------------------


def test_each_live_worker_has_its_own_process_series(tmp_path: Path) -> None:
    gone = 2 ** 22 + 17  # above Linux's largest pid: never a live process
    for pid in (os.getpid(), gone):
        (tmp_path / f"counter_{pid}.db").write_bytes(b"")
    families = {f.name: f for f in metrics._Workers(str(tmp_path)).collect()}
    pids = {s.labels["pid"] for s in families["process_cpu_seconds"].samples}
    assert pids == {str(os.getpid())}
    assert any(s.value > 0 for s in families["process_resident_memory_bytes"].samples)


def _routes_app() -> Any:
    """A FastAPI app configured as the service's (``http.fastapi_telemetry``), with a probe, a
    scrape and a route with a path parameter."""
    from fastapi import FastAPI

    from rag_core.telemetry import http

    app = FastAPI(telemetry=http.fastapi_telemetry())
    for path in ("/healthz", "/readyz", "/metrics", "/v1/notes/{note_id}"):
        app.add_api_route(path, lambda: {"ok": True}, methods=["GET"])
    return app


def _get_each(app: Any, *paths: str) -> None:
    import anyio
    import httpx

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for path in paths:
                assert (await client.get(path)).status_code == 200

    anyio.run(go)


def test_probes_and_scrapes_make_no_trace(spans: InMemorySpanExporter) -> None:
    from opentelemetry.trace import SpanKind

    _get_each(_routes_app(), "/healthz", "/readyz", "/metrics", "/v1/notes/n-1")
    found = spans.get_finished_spans()
    assert [s.name for s in found] == ["GET /v1/notes/{note_id}"]  # FastAPI's, one root
    assert found[0].kind == SpanKind.SERVER and found[0].parent is None
    assert found[0].attributes["http.route"] == "/v1/notes/{note_id}"
    assert found[0].instrumentation_scope.name == "rag_core"  # made by the service's tracer


def test_no_span_while_tracing_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import trace

    monkeypatch.setattr(tracing, "_tracer", trace.NoOpTracer())
    assert not tracing.tracing_on()
    started: list[str] = []
    monkeypatch.setattr(trace.NoOpTracer, "start_span",
                        lambda self, name, *a, **k: started.append(name))
    _get_each(_routes_app(), "/v1/notes/n-1")
    assert started == []  # FastAPI excluded the request: no span made, not even a no-op one


def test_the_genai_metrics_go_through_the_otel_sdk_and_prometheus(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from rag_core.telemetry import genai_metrics as gm

    reader = InMemoryMetricReader()
    monkeypatch.setattr(gm, "_instruments", gm._Instruments(MeterProvider(
        metric_readers=[reader])))
    op = gm.Operation("chat", "openai_compatible", "m-otel")
    labels = {**op.labels(), "gen_ai_token_type": "output"}
    before = metrics.REGISTRY.get_sample_value("gen_ai_client_token_usage_sum", labels) or 0
    gm.record(op, 0.25, 100, 40)
    gm.first_chunk(op, 0.05)
    points = {m.name: m.data.data_points for rm in reader.get_metrics_data().resource_metrics
              for sm in rm.scope_metrics for m in sm.metrics}
    assert set(points) == {"gen_ai.client.token.usage", "gen_ai.client.operation.duration",
                           "gen_ai.client.operation.time_to_first_chunk"}
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in
              points["gen_ai.client.token.usage"]}
    assert tokens == {"input": 100, "output": 40}
    (duration,) = points["gen_ai.client.operation.duration"]
    assert duration.attributes["gen_ai.request.model"] == "m-otel" and duration.sum == 0.25
    assert metrics.REGISTRY.get_sample_value("gen_ai_client_token_usage_sum", labels) - before == 40
