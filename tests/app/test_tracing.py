"""Traces and logs of a request through the app (ASGITransport, real pipeline on the test
PostgreSQL and Redis, the ``hf`` generator against the mock LLM so that tokens cost money).

Spans are caught with the OpenTelemetry SDK's InMemorySpanExporter on a provider of this test's
own (the global provider is left alone); JSON log lines with a handler of this test's own.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rag_core import observability as obs
from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings
from tests.tags import question_tag

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
STEPS = ("assistant.validate", "assistant.query_cache", "assistant.embed", "assistant.retrieve",
         "assistant.build_context", "assistant.generate", "assistant.postprocess")


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


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(obs, "_tracer", provider.get_tracer("rag_core"))
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
    assert attrs["user.id_hash"] == obs.hash_id("amara")
    assert attrs["query.hash"] == obs.hash_id(question)
    assert attrs["request.id"] == "trace-1"
    assert attrs["tokens.input"] == answer["usage"]["input_tokens"] > 0
    assert attrs["tokens.output"] == answer["usage"]["output_tokens"] > 0
    assert attrs["cost.usd"] == pytest.approx(answer["cost_usd"]) and attrs["cost.usd"] > 0
    assert attrs["cache.query"] == "miss"
    for layer in ("embedding", "context"):
        assert attrs[f"cache.{layer}"] == answer["cache"][layer] in ("hit", "miss")
    assert attrs["no_context"] is False

    for name in STEPS:  # children of the root, in its trace, with the request id
        span = found[name]
        assert span.context.trace_id == root.context.trace_id
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert span.attributes["request.id"] == "trace-1"
    assert found["assistant.embed"].attributes["cache.embedding"] == attrs["cache.embedding"]
    assert found["assistant.retrieve"].attributes["cache.context"] == attrs["cache.context"]
    assert found["assistant.build_context"].attributes["context.chunks"] >= 1
    assert found["assistant.build_context"].attributes["context.tokens"] > 0
    generate = dict(found["assistant.generate"].attributes)
    assert generate["llm.name"] == "hf"
    assert generate["tokens.input"] == attrs["tokens.input"]
    assert generate["tokens.output"] == attrs["tokens.output"]
    # the OpenTelemetry GenAI conventions, beside the attributes above
    assert generate["gen_ai.operation.name"] == "chat"
    assert generate["gen_ai.request.model"] == app_settings.generation.llm_model
    assert generate["gen_ai.provider.name"] == generate["gen_ai.system"] == "openai_compatible"
    assert generate["gen_ai.usage.input_tokens"] == answer["usage"]["input_tokens"]
    assert generate["gen_ai.usage.output_tokens"] == answer["usage"]["output_tokens"]
    assert generate["gen_ai.request.max_tokens"] == app_settings.tokens.output_token_budget

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


# --- JSON logs --------------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(obs.JsonFormatter())
    root = logging.getLogger("rag_core")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


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
    lines = _lines(json_log)
    mine = [entry for entry in lines if entry["request_id"] in ("log-rid-1", "log-rid-2")]
    assert {(e["request_id"], e["status"]) for e in mine if e["message"] == "request"} == {
        ("log-rid-1", 200), ("log-rid-2", 401)}
    assert all({"ts", "level", "logger", "message", "request_id"} <= set(e) for e in lines)
    assert token not in json_log.getvalue()


SECRETS = {
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbWFyYSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "hf": "hf_AbCdEfGhIjKlMnOpQrStUv",
    "password": "s3cr3t-pa55",
    "apikey": "sk-live-0123456789",
}


def test_secrets_are_masked_in_message_fields_and_tracebacks(json_log: io.StringIO) -> None:
    log = logging.getLogger("rag_core.test")
    token = obs.request_id_var.set("mask-rid")
    try:
        obs.log_event(log, logging.WARNING,
                      f"calling with Authorization: Bearer {SECRETS['jwt']} and {SECRETS['hf']}",
                      url=f"postgresql://app:{SECRETS['password']}@db:5432/rag",
                      detail=f"api_key={SECRETS['apikey']}",
                      nested={"headers": {"authorization": f"Bearer {SECRETS['jwt']}"},
                              "args": [f"token: {SECRETS['hf']}"]},
                      token=SECRETS["apikey"])
        try:
            raise RuntimeError(f"upstream refused hf token {SECRETS['hf']}")
        except RuntimeError:
            log.exception("failed with password=%s", SECRETS["password"])
    finally:
        obs.request_id_var.reset(token)
    text = json_log.getvalue()
    for name, secret in SECRETS.items():
        assert secret not in text, name
    first, second = _lines(json_log)
    assert first["request_id"] == second["request_id"] == "mask-rid"
    assert first["url"] == "postgresql://app:***@db:5432/rag"
    assert "RuntimeError" in second["exc"]


def test_setup_logging_writes_json_once(monkeypatch: pytest.MonkeyPatch,
                                        app_settings: Settings) -> None:
    root = logging.getLogger("rag_core")
    before, propagate, level = list(root.handlers), root.propagate, root.level
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    try:
        for handler in before:
            root.removeHandler(handler)
        obs.setup_logging(app_settings)
        obs.setup_logging(app_settings)
        assert sum(isinstance(h.formatter, obs.JsonFormatter) for h in root.handlers) == 1
        obs.log_event(logging.getLogger("rag_core.x"), logging.INFO, "hello", n=1)
        line = json.loads(stream.getvalue().splitlines()[-1])
        assert line["message"] == "hello" and line["n"] == 1 and line["level"] == "INFO"
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)
        root.propagate, root.level = propagate, level


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
    root, generate = found["assistant.query"], found["assistant.generate"]
    assert f"{root.context.trace_id:032x}" == TRACE_ID
    assert f"{root.parent.span_id:016x}" == PARENT_ID
    assert sent and sent[-1] == f"00-{TRACE_ID}-{generate.context.span_id:016x}-01"


def _session_hooks() -> list[Any]:
    """The request hooks of the shared httpx client of huggingface_hub."""
    from huggingface_hub.utils._http import get_session

    return get_session().event_hooks["request"]  # type: ignore[no-any-return]


def test_log_lines_carry_the_trace_and_a_user_hash() -> None:
    import json
    import logging

    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("t")
    record = logging.LogRecord("rag_core.x", logging.INFO, __file__, 1, "hello", None, None)
    token = obs.user_hash_var.set(obs.hash_id("amara"))
    try:
        with tracer.start_as_current_span("s") as span:
            line = json.loads(obs.JsonFormatter().format(record))
    finally:
        obs.user_hash_var.reset(token)
    assert line["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert line["user_hash"] == obs.hash_id("amara") and "amara" not in line.values()
