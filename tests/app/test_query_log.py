"""The service feeds its own replay: with ``RAG_QUERY_LOG=on`` the app keeps each question in
PostgreSQL, ``export_query_log`` writes what notebook 03 reads, and the replay runs on it.
Through the app (ASGITransport) on the real pipeline, PostgreSQL and Redis."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag_core.answers.log import (
    QUERY_LOG_KEY_NAME,
    export_query_log,
    flush_query_log,
    user_hash,
)
from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.telemetry import logs
from tests.tags import question_tag

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
GOLDEN = Path(__file__).resolve().parents[2] / "golden"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _ask(app: Any, settings: Settings, user: str, questions: list[str]) -> list[dict]:
    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        for question in questions:
            r = await client.post("/v1/query", json={"query": question}, headers={
                "Authorization": f"Bearer {issue_token(settings, user)}"})
            assert r.status_code == 200, r.text
            out.append(r.json())
    return out


async def test_the_query_log_is_off_by_default(app_settings: Settings, app_parts: Any) -> None:
    assert app_settings.observability.query_log is False
    question = f"Who rebuilt the wall? ({question_tag()})"
    await _ask(create_app(app_settings, parts=app_parts), app_settings, "amara", [question])
    flush_query_log(app_parts.records)
    assert question not in {q.question for q in app_parts.records.queries(1)}


async def test_the_query_log_is_exported_and_replayed(app_settings: Settings, app_parts: Any,
                                                      tmp_path: Path) -> None:
    from evals.cache import replay as cr
    from evals.datasets import traffic
    from evals.quality import evaluate as quality
    from rag_core.ingest.ingestion import ingest_path

    user = f"ql-{uuid.uuid4().hex[:10]}"
    ingest_path(app_parts, user, GOLDEN / "notes" / "amara", progress=False)
    logged = app_settings.with_overrides(query_log=True)
    parts = replace(app_parts, settings=logged)
    asked = ["How old was Abraham when he left Haran?",
             "how old was Abraham when he left Haran",
             "What did Mama Ngozi plant when she was almost eighty?"]
    answers = await _ask(create_app(logged, parts=parts), logged, user, asked)
    assert [a["cache"]["query"] for a in answers][:2] == ["miss", "hit"]

    flush_query_log(app_parts.records)  # lines are written off the request's path
    out = tmp_path / "querylog.jsonl"
    assert export_query_log(app_parts.records, out, days=1) >= 3
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    hashed = user_hash(app_parts.records.service_key(QUERY_LOG_KEY_NAME), user)
    mine = [x for x in lines if x["user"] == hashed]
    assert [x["question"] for x in mine] == asked  # the text, never the user id
    assert [x["outcome"] for x in mine][:2] == ["llm", "query"]
    assert all(user not in json.dumps(x) for x in lines)

    only_mine = tmp_path / "mine.jsonl"
    only_mine.write_text("".join(json.dumps(x) + "\n" for x in mine))
    events = traffic.read_log(only_mine)
    assert [e.kind for e in events] == ["novel", "repeat", "novel"]
    folder = tmp_path / "notes" / hashed  # the replay's notes: a folder per user
    shutil.copytree(GOLDEN / "notes" / "amara", folder)
    notes = cr.library_notes(notes_dir=tmp_path / "notes")
    traffic.check_notes(events, notes)
    settings = cr.cache_settings(query_ttl_s=86_400, semantic_threshold=0.6,
                                 base=app_settings.with_overrides(state_dir=tmp_path),
                                 database=None, redis_db=11)
    base = quality.build_pipeline(settings)
    try:
        rows = cr.run_replay(base, events, notes, query_ttl_s=86_400, semantic_threshold=0.6)
        assert len(rows) == 3 and rows["outcome"].tolist()[:2] == ["llm", "l1"]
    finally:
        cr.remove_users(base, [hashed])
        base.parts.close()


async def test_the_logged_user_hash_is_keyed_not_a_plain_digest(
        app_settings: Settings, app_parts: Any) -> None:
    """Anyone with an export and a list of user ids could match a plain SHA-256 of each id;
    the key kept in PostgreSQL (made once, the same for every process) or RAG_QUERY_LOG_KEY
    keys the hash instead."""
    from rag_core.store.pgvector import store_for

    user = f"ql-{uuid.uuid4().hex[:10]}"
    questions = [f"Who rebuilt the wall? ({question_tag()})"]
    for key in (None, "an operator's query-log key"):
        logged = app_settings.with_overrides(query_log=True, query_log_key=key)
        await _ask(create_app(logged, parts=replace(app_parts, settings=logged)), logged, user,
                   questions)
        flush_query_log(app_parts.records)
        kept = {q.user_hash for q in app_parts.records.queries(1) if q.question == questions[0]}
        assert kept and logs.hash_id(user) not in kept
        if key is None:
            other = store_for(app_settings)  # another process reads the same key
            try:
                stored = other.records.service_key(QUERY_LOG_KEY_NAME)
            finally:
                other.close()
            assert stored == app_parts.records.service_key(QUERY_LOG_KEY_NAME)
            assert kept == {user_hash(stored, user)}
        else:
            assert user_hash(key.encode(), user) in kept
        questions = [f"Who planted the field? ({question_tag()})"]
