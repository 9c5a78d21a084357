"""A question's trace in a real trace viewer: Arize Phoenix (the ``viewer`` extra) on loopback,
``rag-core serve`` pointed at it with the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``
(``RAG_OTEL_EXPORTER=otlp``), the ``hf`` generator talking to the mock LLM. The trace of a miss
and of a hit are read back from the viewer's own REST API: one root (the HTTP server span), the
step spans under ``assistant.query``, the GenAI conventions' spans and token usage; a verdict
lands in the answer's trace; headless Chromium takes a picture of the miss's trace page.

Skipped without the extra (``tests/phoenix_viewer.py``); CI does not install it (850 MB, a
minute and a half), so there it is skipped by design, with its reason in the summary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from phoenix_viewer import Viewer, phoenix, phoenix_command
from served_app import kill_group, wait_for

from rag_core.api.auth import issue_token
from rag_core.config import Settings
from rag_core.procs import free_port, wait_http

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SECRET = "viewer-test-secret-3f5c0e8a9b1d4c7e8f2a6b0c9d1e3f5a7b9c2d4e6f8a0b1c"
USER = "amara"
QUESTION = "What did Okafor say about Abraham leaving Haran?"
STEPS = ("validate", "query_cache", "embed", "retrieve", "decide", "build_context",
         "generate", "postprocess")


@dataclass
class Service:
    url: str
    settings: Settings

    def post(self, path: str, rid: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=60, headers={
            "Authorization": f"Bearer {issue_token(self.settings, USER)}", "X-Request-ID": rid})


@pytest.fixture(scope="module")
def viewer(short_tmp: Path) -> Iterator[Viewer]:
    phoenix_command()  # skip before anything starts when the extra is absent
    with phoenix(short_tmp / "phoenix") as found:
        yield found


@pytest.fixture(scope="module")
def service(viewer: Viewer, module_database_url: str, redis_server: Any,
            short_tmp: Path) -> Iterator[Service]:
    from rag_core.devservers.mock_server import start_mock
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    work = short_tmp / f"vw{uuid.uuid4().hex[:6]}"
    notes = work / "notes"
    notes.mkdir(parents=True)
    for i in (1, 2, 3):
        shutil.copy(ROOT / "golden" / "notes" / USER / f"amara-00{i}.md", notes)
    mock_url, stop_mock, _ = start_mock()
    settings = Settings(profile="ci", state_dir=work / "state", database_url=module_database_url,
                        redis_url=redis_server.url, jwt_secret=SECRET)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RAG_", "OTEL_")) and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({
        "DATABASE_URL": module_database_url, "REDIS_URL": redis_server.url, "RAG_PROFILE": "ci",
        "RAG_STATE_DIR": str(work / "state"), "RAG_JWT_SECRET": SECRET,
        "RAG_LLM": "hf", "RAG_LLM_BASE_URL": f"{mock_url}/v1", "RAG_LLM_MAX_RETRIES": "0",
        "RAG_OTEL_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": viewer.url,
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1"})
    port = free_port()
    log_path = work / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag_core", "serve", "--host", "127.0.0.1", "--port",
             str(port)], cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        parts = build_parts(settings)
        ingest_path(parts, USER, notes, progress=False)
        parts.close()
        wait_http(f"http://127.0.0.1:{port}/readyz", 240, proc=proc, log=log_path)
        yield Service(f"http://127.0.0.1:{port}", settings)
    finally:
        kill_group(proc)
        stop_mock()


def trace_of(viewer: Viewer, rid: str, *, more_than: int = 0) -> list[dict[str, Any]]:
    """Every span of the trace whose ``assistant.query`` has request id ``rid``, once the
    viewer holds more than ``more_than`` of them and the HTTP span (the last to end)."""
    def found() -> list[dict[str, Any]] | None:
        roots = [s for s in viewer.spans(name="assistant.query")
                 if s["attributes"].get("request.id") == rid]
        if not roots:
            return None
        spans = viewer.spans(trace_id=roots[0]["trace_id"])
        done = any(s["parent_span_id"] is None for s in spans) and len(spans) > more_than
        return spans if done else None

    return wait_for(f"the trace of {rid} in the viewer", found, deadline_s=120, every_s=0.5)


def tree(spans: list[dict[str, Any]]) -> str:
    """The trace as an indented tree with each span's telling attributes (the closing note)."""
    keys = ("cache.outcome", "cache.semantic.nearest_similarity", "rag.retrieval.rows",
            "rag.retrieval.best_score", "rag.decision.outcome", "rag.decision.reason",
            "context.tokens", "context.token_budget", "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens", "gen_ai.response.finish_reasons",
            "http.response.status_code")
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in sorted(spans, key=lambda s: s["start_time_unix_nano"]):
        children.setdefault(span["parent_span_id"], []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            ms = (span["end_time_unix_nano"] - span["start_time_unix_nano"]) / 1e6
            shown = {k: span["attributes"][k] for k in keys if k in span["attributes"]}
            lines.append(f"{'  ' * depth}{span['name']}  {ms:.1f} ms  {shown or ''}".rstrip())
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return "\n".join(lines)


def test_a_miss_and_a_hit_each_make_one_trace_in_the_viewer(
        viewer: Viewer, service: Service, short_tmp: Path) -> None:
    miss = service.post("/v1/query", "viewer-miss", {"query": QUESTION})
    assert miss.status_code == 200, miss.text
    answer = miss.json()
    assert answer["cache"]["query"] == "miss" and answer["generator"] == "hf"
    spans = trace_of(viewer, "viewer-miss", more_than=len(STEPS) + 6)
    by_name = {s["name"]: s for s in spans}
    (root,) = [s for s in spans if s["parent_span_id"] is None]
    assert root["name"] == "POST /v1/query"  # one root: the HTTP request
    query = by_name["assistant.query"]
    assert query["parent_span_id"] == root["span_id"]
    for step in STEPS:
        assert by_name[f"assistant.{step}"]["parent_span_id"] == query["span_id"], step
    chat = by_name[f"chat {service.settings.generation.llm_model}"]
    assert chat["parent_span_id"] == by_name["assistant.generate"]["span_id"]
    assert chat["attributes"]["gen_ai.operation.name"] == "chat"
    assert chat["attributes"]["gen_ai.usage.input_tokens"] == answer["usage"]["input_tokens"]
    assert chat["attributes"]["gen_ai.usage.output_tokens"] == answer["usage"]["output_tokens"]
    embeddings = [s for s in spans if s["name"].startswith("embeddings ")]
    assert embeddings and embeddings[0]["attributes"]["gen_ai.operation.name"] == "embeddings"
    for layer in ("query", "embedding", "context"):
        assert by_name[f"cache.lookup {layer}"]["attributes"]["cache.outcome"] == \
            answer["cache"][layer]
    assert by_name["assistant.retrieve"]["attributes"]["rag.retrieval.best_score"] == \
        max(r["score"] for r in answer["retrieved"])

    hit = service.post("/v1/query", "viewer-hit", {"query": QUESTION})
    assert hit.status_code == 200 and hit.json()["cache"]["query"] == "hit"
    hit_spans = trace_of(viewer, "viewer-hit", more_than=4)
    hit_names = {s["name"] for s in hit_spans}
    assert hit_spans[0]["trace_id"] != root["trace_id"]  # a trace of its own
    assert {"POST /v1/query", "assistant.query", "assistant.validate",
            "assistant.query_cache", "cache.lookup query"} <= hit_names
    assert not [n for n in hit_names if n.startswith(("chat ", "embeddings "))]

    # a verdict on the miss's answer: an evaluation event in that answer's trace
    verdict = service.post(f"/v1/answers/{answer['answer_id']}/feedback", "viewer-verdict",
                           {"verdict": "right"})
    assert verdict.status_code == 200, verdict.text
    judged = wait_for("the verdict in the answer's trace", lambda: next(
        (s for s in viewer.spans(trace_id=root["trace_id"]) if s["name"] == "assistant.verdict"),
        None), deadline_s=120, every_s=0.5)
    assert judged["parent_span_id"] == query["span_id"]
    assert [e["name"] for e in judged["events"]] == ["gen_ai.evaluation.result"]

    trees = (f"miss ({root['trace_id']}):\n{tree(spans)}\n\n"
             f"hit ({hit_spans[0]['trace_id']}):\n{tree(hit_spans)}\n")
    (short_tmp / "viewer-trees.txt").write_text(trees)
    print("\n" + trees)
    picture(viewer, root["trace_id"], short_tmp)


def picture(viewer: Viewer, trace_id: str, work: Path) -> None:
    """The trace's page in the viewer's UI, rendered by headless Chromium; copied to the path
    ``VIEWER_SCREENSHOT`` names (docs/img/phoenix-trace.png was made so)."""
    from browser import chromium

    projects = httpx.get(f"{viewer.url}/v1/projects", timeout=30).json()["data"]
    project = next(p["id"] for p in projects if p["name"] == "default")
    png = work / "trace.png"
    done = chromium(work / "chromium", f"--screenshot={png}", "--window-size=1600,1000",
                    "--virtual-time-budget=20000",
                    f"{viewer.url}/projects/{project}/traces/{trace_id}")
    assert done.returncode == 0 and png.stat().st_size > 20_000, done.stderr[-2000:]
    if os.environ.get("VIEWER_SCREENSHOT"):
        shutil.copy(png, os.environ["VIEWER_SCREENSHOT"])
