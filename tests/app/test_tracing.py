"""Traces and logs of a request through the app (ASGITransport, real pipeline on the test
PostgreSQL and Redis, the ``hf`` generator against the mock LLM so that tokens cost money).

Spans are caught with the OpenTelemetry SDK's InMemorySpanExporter on a provider of this test's
own (the global provider is left alone), made by the SDK's tracer and by the service's own (each
test runs with both); JSON log lines with a handler of this test's own.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.telemetry import light, logs, tracing
from rag_core.telemetry.light import readable
from tests.json_log import log_lines
from tests.tags import question_tag

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
STEPS = ("assistant.validate", "assistant.query_cache", "assistant.embed", "assistant.retrieve",
         "assistant.semantic_cache", "assistant.decide", "assistant.build_context",
         "assistant.generate", "assistant.postprocess")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def paid_parts(app_settings: Settings, app_parts: Any) -> Iterator[Any]:
    """The module's parts with the ``hf`` generator talking to the mock LLM."""
    from dataclasses import replace

    from rag_core.devservers.mock_server import MockLLM
    from rag_core.llm import build_generator

    with MockLLM() as (url, _):
        generator = build_generator(app_settings.with_overrides(
            llm="hf", llm_base_url=f"{url}/v1", llm_max_retries=0))
        yield replace(app_parts, generator=generator)


@pytest.fixture(params=["sdk", "light"])
def spans(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
          ) -> InMemorySpanExporter:
    """Every span of the test, made by the OpenTelemetry SDK's tracer or by the service's
    own (``telemetry.light``, as ``RAG_OTEL_EXPORTER=otlp`` installs it), each ended span
    handed over as the export thread hands it to the exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer: Any = provider.get_tracer("rag_core")
    if request.param == "light":
        tracer = light.tracer_for(provider, lambda span: exporter.export([readable(span)]))
    monkeypatch.setattr(tracing, "_tracer", tracer)
    return exporter


@pytest.fixture
def client(app_settings: Settings, paid_parts: Any) -> httpx.AsyncClient:
    app = create_app(app_settings, parts=paid_parts)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _by_name(exporter: InMemorySpanExporter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for span in exporter.get_finished_spans():
        assert span.name not in out, f"two {span.name} spans in one request"
        out[span.name] = span
    return out


async def test_query_spans_with_attributes(client: httpx.AsyncClient, app_settings: Settings,
                                           spans: InMemorySpanExporter) -> None:
    # a number of its own: the semantic cache never reuses another question's answer for it
    question = f"What did Pastor Okafor say about faith and Abraham? ({question_tag()})"
    headers = {"Authorization": f"Bearer {issue_token(app_settings, 'amara')}",
               "X-Request-ID": "trace-1"}
    r = await client.post("/v1/query", json={"query": question}, headers=headers)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["generator"] == "hf" and answer["cost_usd"] > 0

    found = _by_name(spans)
    assert set(STEPS) | {"assistant.query"} <= set(found), sorted(found)
    root = found["assistant.query"]
    attrs = dict(root.attributes)
    assert attrs["user.id_hash"] == logs.hash_id("amara")
    assert attrs["query.hash"] == logs.hash_id(question)
    assert attrs["request.id"] == "trace-1"
    assert attrs["tokens.input"] == answer["usage"]["input_tokens"] > 0
    assert attrs["tokens.output"] == answer["usage"]["output_tokens"] > 0
    assert attrs["cost.usd"] == pytest.approx(answer["cost_usd"]) and attrs["cost.usd"] > 0
    assert attrs["cache.query"] == "miss"
    for layer in ("embedding", "context"):
        assert attrs[f"cache.{layer}"] == answer["cache"][layer] in ("hit", "miss")
    assert attrs["no_context"] is False
    assert attrs["rag.work_slot.wait_ms"] >= 0  # steps 1-5 ran in a work slot (limits/slots.py)

    # one trace: the HTTP server span is its root, the pipeline's root span its child
    server = found["POST /v1/query"]
    assert server.kind == SpanKind.SERVER and server.parent is None
    assert server.attributes["http.route"] == "/v1/query"
    assert server.attributes["http.response.status_code"] == 200
    assert root.parent is not None and root.parent.span_id == server.context.span_id
    assert {s.context.trace_id for s in found.values()} == {server.context.trace_id}

    for name in STEPS:  # children of the root, in its trace, with the request id
        span = found[name]
        assert span.context.trace_id == root.context.trace_id
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert span.attributes["request.id"] == "trace-1"
    assert found["assistant.embed"].attributes["cache.embedding"] == attrs["cache.embedding"]
    assert found["assistant.retrieve"].attributes["cache.context"] == attrs["cache.context"]
    assert found["assistant.build_context"].attributes["context.chunks"] >= 1
    assert 0 < found["assistant.build_context"].attributes["context.tokens"] <= \
        found["assistant.build_context"].attributes["context.token_budget"]

    # a lookup span per cache layer, under its step, with the answer's outcome
    for layer, step in (("query", "query_cache"), ("embedding", "embed"),
                        ("context", "retrieve"), ("semantic", "semantic_cache")):
        lookup = found[f"cache.lookup {layer}"]
        assert lookup.parent is not None
        assert lookup.parent.span_id == found[f"assistant.{step}"].context.span_id
        assert lookup.attributes["cache.layer"] == layer
        assert lookup.attributes["cache.outcome"] == answer["cache"][layer]
    semantic = found["cache.lookup semantic"].attributes
    assert "cache.semantic.reason" in semantic
    assert found["assistant.semantic_cache"].attributes["rag.decision.outcome"] == "no_reuse"
    decide = found["assistant.decide"].attributes
    assert decide["rag.decision.outcome"] == "answer" and decide["rag.decision.reason"]

    retrieve = found["assistant.retrieve"].attributes
    assert retrieve["rag.retrieval.top_k"] == app_settings.retrieval.top_k
    assert retrieve["rag.retrieval.rows"] == len(answer["retrieved"]) > 0
    assert retrieve["rag.retrieval.best_score"] == max(r["score"] for r in answer["retrieved"])
    assert retrieve["rag.retrieval.mode"] == app_settings.retrieval.retrieval_mode
    if answer["cache"]["embedding"] == "miss":  # the model ran: its span beside the lookup
        embeddings = next(s for n, s in found.items() if n.startswith("embeddings "))
        assert embeddings.parent.span_id == found["assistant.embed"].context.span_id
        assert embeddings.attributes["gen_ai.operation.name"] == "embeddings"
        assert embeddings.attributes["gen_ai.usage.input_tokens"] > 0

    generate = dict(found["assistant.generate"].attributes)
    assert generate["llm.name"] == "hf"
    assert generate["tokens.input"] == attrs["tokens.input"]
    assert generate["tokens.output"] == attrs["tokens.output"]
    # the model call: the OpenTelemetry GenAI conventions' inference span, under generate
    chat_span = found[f"chat {app_settings.generation.llm_model}"]
    assert chat_span.kind == SpanKind.CLIENT
    assert chat_span.parent.span_id == found["assistant.generate"].context.span_id
    chat = dict(chat_span.attributes)
    assert chat["gen_ai.operation.name"] == "chat"
    assert chat["gen_ai.request.model"] == app_settings.generation.llm_model
    assert chat["gen_ai.response.model"]
    assert chat["gen_ai.provider.name"] == chat["gen_ai.system"] == "openai_compatible"
    assert chat["gen_ai.usage.input_tokens"] == answer["usage"]["input_tokens"]
    assert chat["gen_ai.usage.output_tokens"] == answer["usage"]["output_tokens"]
    assert chat["gen_ai.request.max_tokens"] == app_settings.tokens.output_token_budget
    assert tuple(chat["gen_ai.response.finish_reasons"]) in (("stop",), ("length",))
    assert chat["server.address"] == "127.0.0.1"
    assert not any(k.startswith("gen_ai.") for k in generate)  # never counted twice
    assert not chat_span.events  # no question or answer text: content capture is off
    postprocess = found["assistant.postprocess"].attributes
    assert postprocess["guard.leaked"] is False and postprocess["guard.citations"] >= 0

    # never the raw user id, query or token in any attribute
    token = headers["Authorization"].split()[1]
    for span in found.values():
        for value in span.attributes.values():
            assert value not in ("amara", question, token)
            assert not (isinstance(value, str) and (question in value or token in value))

    # the same question again: an L1 hit, recorded on the root span, and no model call
    spans.clear()
    r = await client.post("/v1/query", json={"query": question}, headers={
        **headers, "X-Request-ID": "trace-2"})
    again = _by_name(spans)
    hit = dict(again["assistant.query"].attributes)
    assert hit["cache.query"] == "hit" and hit["cost.usd"] == 0.0 and hit["tokens.output"] == 0
    assert "assistant.generate" not in again and "assistant.embed" not in again
    assert again["cache.lookup query"].attributes["cache.outcome"] == "hit"
    assert again["cache.lookup query"].parent.span_id == \
        again["assistant.query_cache"].context.span_id
    assert again["assistant.query"].parent.span_id == \
        again["POST /v1/query"].context.span_id


async def test_error_is_recorded_on_the_root_span(client: httpx.AsyncClient,
                                                  app_settings: Settings,
                                                  spans: InMemorySpanExporter) -> None:
    r = await client.post("/v1/query", json={"query": "   "}, headers={
        "Authorization": f"Bearer {issue_token(app_settings, 'amara')}"})
    assert r.status_code == 422
    root = _by_name(spans)["assistant.query"]
    assert root.attributes["error.code"] == "INVALID_QUERY"


async def test_streamed_answer_is_traced_too(client: httpx.AsyncClient, app_settings: Settings,
                                             spans: InMemorySpanExporter) -> None:
    question = f"What did Okafor say about endurance? ({question_tag()})"
    r = await client.post("/v1/query", json={"query": question, "stream": True}, headers={
        "Authorization": f"Bearer {issue_token(app_settings, 'amara')}"})
    assert r.status_code == 200 and "event: answer" in r.text
    found = _by_name(spans)
    root, generate = found["assistant.query"], found["assistant.generate"]
    assert generate.parent is not None and generate.parent.span_id == root.context.span_id
    assert generate.attributes["tokens.output"] > 0
    assert root.attributes["tokens.output"] == generate.attributes["tokens.output"]
    assert root.end_time >= generate.end_time  # the root covers the whole stream
    # the model call's span: open from the call to the last piece
    chat = found[f"chat {app_settings.generation.llm_model}"]
    assert [e.name for e in chat.events] == ["gen_ai.first_chunk"]
    assert chat.events[0].timestamp <= chat.end_time <= generate.end_time
    assert chat.attributes["gen_ai.usage.output_tokens"] == generate.attributes["tokens.output"]
    server = found["POST /v1/query"]  # the HTTP span ends after the stream's last event
    assert root.parent.span_id == server.context.span_id and server.end_time >= root.end_time


async def test_question_and_answer_text_on_the_chat_span_only_when_allowed(
        app_settings: Settings, paid_parts: Any, spans: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    settings = app_settings.with_overrides(otel_capture_content=True)
    app = create_app(settings, parts=replace(paid_parts, settings=settings))
    question = f"What did Okafor say about the harvest? ({question_tag()})"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        r = await client.post("/v1/query", json={"query": question}, headers={
            "Authorization": f"Bearer {issue_token(settings, 'amara')}"})
    assert r.status_code == 200, r.text
    chat = _by_name(spans)[f"chat {settings.generation.llm_model}"].attributes
    assert question in chat["gen_ai.input.messages"]
    assert r.json()["answer"][:40] in chat["gen_ai.output.messages"].replace("\\n", "\n")
    assert "gen_ai.system" not in chat  # the latest conventions only


# --- JSON logs --------------------------------------------------------------------------------


async def test_log_lines_carry_the_request_id_and_no_token(client: httpx.AsyncClient,
                                                           app_settings: Settings,
                                                           json_log: io.StringIO) -> None:
    token = issue_token(app_settings, "amara")
    r = await client.post("/v1/query", json={"query": "What is faith?"}, headers={
        "Authorization": f"Bearer {token}", "X-Request-ID": "log-rid-1"})
    assert r.status_code == 200
    r = await client.post("/v1/query", json={"query": "faith"}, headers={
        "Authorization": f"Bearer {token}x", "X-Request-ID": "log-rid-2"})
    assert r.status_code == 401
    lines = log_lines(json_log)
    mine = [entry for entry in lines if entry["request_id"] in ("log-rid-1", "log-rid-2")]
    assert {(e["request_id"], e["status"]) for e in mine if e["message"] == "request"} == {
        ("log-rid-1", 200), ("log-rid-2", 401)}
    assert all({"ts", "level", "logger", "message", "request_id"} <= set(e) for e in lines)
    assert token not in json_log.getvalue()


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


async def test_an_incoming_traceparent_is_continued_and_carried_to_the_llm(
        client: httpx.AsyncClient, app_settings: Settings, spans: InMemorySpanExporter,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's trace goes on through the pipeline, and the LLM call carries it onward
    (the hf generator's request hook writes ``traceparent`` on every non-hub request)."""
    from rag_core.llm import hf

    sent: list[str] = []
    original = hf._hook

    def recording(request: Any) -> None:
        original(request)
        sent.append(request.headers.get("traceparent", ""))

    monkeypatch.setattr(hf, "_hook", recording)
    hf._install_session()
    session_hooks = _session_hooks()
    session_hooks[:] = [recording]
    try:
        question = f"What did Okafor say about Noah building? ({question_tag()})"
        r = await client.post("/v1/query", json={"query": question}, headers={
            "Authorization": f"Bearer {issue_token(app_settings, 'amara')}",
            "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        assert r.status_code == 200 and r.json()["generator"] == "hf"
    finally:
        session_hooks[:] = [original]
    found = _by_name(spans)
    server, chat = found["POST /v1/query"], found[f"chat {app_settings.generation.llm_model}"]
    assert f"{found['assistant.query'].context.trace_id:032x}" == TRACE_ID
    assert f"{server.parent.span_id:016x}" == PARENT_ID
    assert sent and sent[-1] == f"00-{TRACE_ID}-{chat.context.span_id:016x}-01"


def _session_hooks() -> list[Any]:
    """The request hooks of the shared httpx client of huggingface_hub."""
    from huggingface_hub.utils._http import get_session

    return get_session().event_hooks["request"]  # type: ignore[no-any-return]


async def test_a_verdict_is_an_evaluation_event_in_the_answers_trace(
        client: httpx.AsyncClient, app_settings: Settings, spans: InMemorySpanExporter) -> None:
    headers = {"Authorization": f"Bearer {issue_token(app_settings, 'amara')}"}
    question = f"What did Okafor say about the potter's clay? ({question_tag()})"
    r = await client.post("/v1/query", json={"query": question}, headers=headers)
    assert r.status_code == 200, r.text
    answer_id = r.json()["answer_id"]
    root = _by_name(spans)["assistant.query"]
    spans.clear()
    r = await client.post(f"/v1/answers/{answer_id}/feedback", json={
        "verdict": "wrong", "comment": "he spoke of the wheel"}, headers=headers)
    assert r.status_code == 200, r.text
    found = _by_name(spans)
    verdict = found["assistant.verdict"]
    assert verdict.context.trace_id == root.context.trace_id  # beside the answer it judges
    assert verdict.parent.span_id == root.context.span_id
    (link,) = verdict.links  # and linked to the feedback request that gave it
    assert link.context.span_id == found["POST /v1/answers/{answer_id}/feedback"].context.span_id
    (event,) = verdict.events
    assert event.name == "gen_ai.evaluation.result"
    assert dict(event.attributes) == {
        "gen_ai.evaluation.name": "user_verdict", "gen_ai.evaluation.score.label": "wrong",
        "gen_ai.evaluation.score.value": 0.0, "gen_ai.response.id": answer_id,
        "rag.answer.source": "llm"}
