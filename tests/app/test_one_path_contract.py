"""One question, every way in, the same answer: a contract over the paths a question can take.

A new question and then its exact repeat are sent four ways: in process (httpx.ASGITransport)
and served (``rag-core serve`` through uvicorn, a server for each way), each as JSON and as a
stream (the stream's final ``answer`` event). The caches are emptied before each way, so each
way meets a miss and then a hit. What a user or an operator sees must not depend on the way: the
status, the answer text, the citations, the cache block, ``no_context`` and its reason, the
decisions (``debug: true``), the counters each request moved (``/metrics`` of the process that
answered) and the names of the spans of its trace. Ids, timings and scores are left out (the
last because the served process may compute its vectors on another CPU kernel).

The fast paths of an exact hit (steps 1-2 on the event loop, the route's short way in) must
answer as the pipeline does: this is the test that says so.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otlp_receiver import Receiver
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from served_app import clean_env, serve, wait_for

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.telemetry import metrics, tracing

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
QUESTION = "What did Okafor say about Abraham leaving Haran?"
COUNTED = ("assistant_requests_total", "cache_hits_total", "cache_misses_total",
           "no_context_responses_total")
WAYS = ("in process, JSON", "in process, stream", "served, JSON", "served, stream")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(scope="module")
def served_env(app_settings: Settings, receiver: Receiver, short_tmp: Path) -> dict[str, str]:
    """The same database, Redis and notes as the in-process app, served by uvicorn."""
    services = app_settings.services
    return clean_env(DATABASE_URL=str(services.database_url),
                     REDIS_URL=str(services.redis_url), RAG_PROFILE="ci",
                     RAG_STATE_DIR=str(short_tmp / f"pc{uuid.uuid4().hex[:6]}"),
                     RAG_JWT_SECRET=app_settings.auth.jwt_secret.get_secret_value(),
                     RAG_OTEL_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("rag_core"))
    return exporter


def _counts(text: bytes | str) -> dict[str, float]:
    """The counted series of a Prometheus exposition, by name and labels."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(
            text.decode() if isinstance(text, bytes) else text):
        for sample in family.samples:
            if sample.name in COUNTED:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def _moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def _seen(status: int, body: str, stream: bool) -> dict[str, Any]:
    """What the user sees of an answer, without ids, timings or scores."""
    if stream:
        assert "event: answer" in body, body[:500]
        data = body.split("event: answer\ndata: ", 1)[1].split("\n", 1)[0]
        answer = json.loads(data)
    else:
        answer = json.loads(body)
    return {
        "status": status,
        "answer": answer["answer"],
        "citations": [{k: c[k] for k in ("n", "chunk_id", "note_id", "title")}
                      for c in answer["citations"]],
        "cache": answer["cache"],
        "no_context": answer["no_context"],
        "no_context_reason": answer.get("no_context_reason"),
        "generator": answer["generator"],
        "decisions": _without_scores(answer.get("decisions")),
    }


def _without_scores(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_scores(v) for k, v in value.items()
                if not isinstance(v, float) and "score" not in k and "similarity" not in k}
    if isinstance(value, list):
        return [_without_scores(v) for v in value]
    return value


async def test_a_miss_and_a_hit_answer_the_same_every_way_in(
        app_settings: Settings, app_parts: Any, served_env: dict[str, str],
        receiver: Receiver, short_tmp: Path, spans: InMemorySpanExporter) -> None:
    headers = {"Authorization": f"Bearer {issue_token(app_settings, 'amara')}"}
    app = create_app(app_settings, parts=app_parts)
    seen: dict[str, list[dict[str, Any]]] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as local:
        for way in WAYS:
            app_parts.caches.clear(None)  # a miss, then its hit, on each way
            stream = way.endswith("stream")
            body = {"query": QUESTION, "debug": True, "stream": stream}
            seen[way] = []
            # a server of its own for each served way: the context cache (L3) lives in the
            # process, out of this test's reach, and a second way would meet the first's
            server = serve(short_tmp / f"contract{WAYS.index(way)}", served_env,
                           ready=lambda s: s.get("/readyz").status_code == 200) \
                if way.startswith("served") else contextlib.nullcontext()
            with server as served:
                for turn in ("miss", "hit"):
                    rid = f"contract-{WAYS.index(way)}-{turn}"
                    if served is not None:
                        before = _counts(served.get("/metrics").text)
                        r = httpx.post(f"{served.url}/v1/query", json=body, timeout=60,
                                       headers={**headers, "X-Request-ID": rid})
                        moved = _moved(before, _counts(served.get("/metrics").text))
                        names = _served_span_names(receiver, rid)
                    else:
                        spans.clear()
                        before = _counts(generate_latest(metrics.REGISTRY))
                        r = await local.post("/v1/query", json=body,
                                             headers={**headers, "X-Request-ID": rid})
                        moved = _moved(before, _counts(generate_latest(metrics.REGISTRY)))
                        names = sorted(s.name for s in spans.get_finished_spans())
                    seen[way].append({**_seen(r.status_code, r.text, stream),
                                      "counted": moved, "spans": names})
    first = seen[WAYS[0]]
    assert first[0]["cache"]["query"] == "miss" and first[1]["cache"]["query"] == "hit"
    assert first[0]["citations"] and first[0]["status"] == 200
    for way in WAYS[1:]:
        for turn, expected, got in zip(("miss", "hit"), first, seen[way], strict=True):
            differing = {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}
            assert differing == {}, f"{way}, {turn}: {differing}"


def _served_span_names(receiver: Receiver, rid: str) -> list[str]:
    """The span names of the trace whose server span carries ``rid``, once it has ended (the
    server span is the last to end)."""
    def found() -> list[str] | None:
        spans = receiver.copy()
        roots = [s for s in spans if s["parent"] is None
                 and s["attributes"].get("request.id") == rid]
        if not roots:
            return None
        return sorted(s["name"] for s in spans if s["trace"] == roots[0]["trace"])

    return wait_for(f"the trace of {rid}", found, deadline_s=60, every_s=0.2)
