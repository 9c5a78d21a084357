"""One trace per question, as a fresh install exports it: a prod ``rag-core serve`` with
``RAG_OTEL_EXPORTER=otlp`` and the FastAPI that ``make setup`` installs (its own telemetry on),
sending OTLP/HTTP to a receiver of this test's own (a real HTTP server that decodes the
protobuf ``ExportTraceServiceRequest``, as a collector does).

Each question's trace has exactly one root, the HTTP SERVER span ``POST /v1/query``, with the
pipeline's ``assistant.query`` under it; the probes and the scrape make no trace; no span comes
from FastAPI's own scope (its server span is made with the service's tracer)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from otlp_receiver import Receiver
from served_app import clean_env, serve, wait_for

from rag_core.api.auth import issue_token
from rag_core.config import Settings

pytestmark = [pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
SECRET = "one-trace-test-secret-7c1e9a3b5d2f4e6a8c0b1d3f5a7c9e2b4d6f8a0c"
METRICS_TOKEN = "one-trace-metrics-token-5b8d2f"
USER = "amara"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(scope="module")
def service(receiver: Receiver, module_database_url: str, redis_server: Any,
            short_tmp: Path) -> Iterator[Any]:
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    work = short_tmp / f"ot{uuid.uuid4().hex[:6]}"
    notes = work / "notes"
    notes.mkdir(parents=True)
    for i in (1, 2, 3):
        shutil.copy(ROOT / "golden" / "notes" / USER / f"amara-00{i}.md", notes)
    settings = Settings(profile="ci", state_dir=work / "state", database_url=module_database_url,
                        redis_url=redis_server.url, jwt_secret=SECRET)
    parts = build_parts(settings)
    ingest_path(parts, USER, notes, progress=False)
    parts.close()
    env = clean_env(DATABASE_URL=module_database_url, REDIS_URL=redis_server.url,
                    RAG_PROFILE="prod", RAG_STATE_DIR=str(work / "state"),
                    RAG_JWT_SECRET=SECRET, RAG_METRICS_TOKEN=METRICS_TOKEN,
                    RAG_OTEL_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
                    OMP_NUM_THREADS="1")
    with serve(work, env, ready=lambda s: s.get("/readyz").status_code == 200) as served:
        yield served, settings


def test_each_question_is_one_trace_whose_root_is_the_server_span(
        service: Any, receiver: Receiver) -> None:
    served, settings = service
    for path in ("/healthz", "/readyz"):
        assert served.get(path).status_code == 200
    scrape = served.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scrape.status_code == 200
    auth = {"Authorization": f"Bearer {issue_token(settings, USER)}"}
    question = {"query": "What did Okafor say about Abraham leaving Haran?"}
    rids = ("one-trace-miss", "one-trace-hit")
    for rid in rids:
        r = served.post("/v1/query", json=question, headers={**auth, "X-Request-ID": rid})
        assert r.status_code == 200, r.text
    assert r.json()["cache"]["query"] == "hit"

    def both_ended() -> list[dict[str, Any]] | None:
        spans = receiver.copy()
        servers = [s for s in spans if s["name"] == "POST /v1/query"]
        return spans if {s["attributes"].get("request.id") for s in servers} >= set(rids) \
            else None

    spans = wait_for("both questions' server spans at the receiver", both_ended,
                     deadline_s=60, every_s=0.2)
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_trace.setdefault(span["trace"], []).append(span)
    assert len(by_trace) == 2, {t: [s["name"] for s in v] for t, v in by_trace.items()}
    for trace_spans in by_trace.values():
        roots = [s for s in trace_spans if s["parent"] is None]
        assert [r["name"] for r in roots] == ["POST /v1/query"]
        assert roots[0]["kind"] == 2  # SPAN_KIND_SERVER
        query = [s for s in trace_spans if s["name"] == "assistant.query"]
        assert len(query) == 1 and query[0]["parent"] == roots[0]["id"]
    assert not [s for s in spans if s["scope"] == "fastapi"]
    assert not [s for s in spans if s["attributes"].get("url.path") in
                ("/healthz", "/readyz", "/metrics")]
    assert httpx.get(f"{served.url}/healthz").status_code == 200  # still serving
