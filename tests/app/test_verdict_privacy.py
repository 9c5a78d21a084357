"""What the service keeps of verdicts and notes, through the app (ASGITransport) on the real
pipeline, PostgreSQL and Redis: one verdict per user and answer, a bounded rate of them, a
deleted note's text gone from the verdicts that cited it, verdicts kept ``RAG_FEEDBACK_DAYS``
days, and a note read back as it was written (also one stored before bodies were kept)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from rag_core.answers.feedback import VERDICTS_PER_WINDOW, export_verdicts
from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings, fixed
from rag_core.ingest.readers.markdown import parse_markdown
from rag_core.store.records import AnswerRecord
from tests.tags import question_tag

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
GOLDEN = Path(__file__).resolve().parents[2] / "golden"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def client(app_settings: Settings, app_parts: Any) -> httpx.AsyncClient:
    app = create_app(app_settings, parts=app_parts)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def auth(settings: Settings, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, user)}"}


def new_user(parts: Any) -> str:
    from rag_core.ingest.ingestion import ingest_path

    name = f"vp-{uuid.uuid4().hex[:10]}"
    ingest_path(parts, name, GOLDEN / "notes" / "amara", progress=False)
    return name


def verdicts_of(parts: Any, user: str) -> list[Any]:
    return [v for v in parts.records.verdicts() if v.user_id == user]


async def test_one_verdict_per_answer_and_a_deleted_notes_text_leaves_it(
        client: httpx.AsyncClient, app_settings: Settings, app_parts: Any,
        tmp_path: Path) -> None:
    user = new_user(app_parts)
    question = f"How old was Abraham when he left Haran? ({question_tag()})"
    r = await client.post("/v1/query", json={"query": question},
                          headers=auth(app_settings, user))
    answer = r.json()
    assert r.status_code == 200 and answer["answer_id"] and answer["citations"], answer
    path = f"/v1/answers/{answer['answer_id']}/feedback"
    for body in ({"verdict": "right", "comment": "first"},
                 {"verdict": "wrong", "comment": "second thoughts"}):
        r = await client.post(path, json=body, headers=auth(app_settings, user))
        assert r.status_code == 200, r.text
    kept = verdicts_of(app_parts, user)
    assert [(v.verdict, v.comment) for v in kept] == [("wrong", "second thoughts")]
    assert kept[0].question == question and kept[0].note_ids

    cited = kept[0].note_ids[0]
    r = await client.delete(f"/v1/notes/{cited}", headers=auth(app_settings, user))
    assert r.status_code == 200
    [after] = verdicts_of(app_parts, user)
    assert after.verdict == "wrong" and cited not in after.note_ids
    assert (after.question, after.answer, after.comment, after.matched_question) == \
        ("", "", None, None)
    export_verdicts(app_parts.records, tmp_path / "out")
    exported = "".join(p.read_text() for p in (tmp_path / "out").rglob("*.jsonl"))
    assert question not in exported and "second thoughts" not in exported


async def test_verdicts_beyond_the_hourly_rate_get_a_coded_429(
        client: httpx.AsyncClient, app_settings: Settings, app_parts: Any) -> None:
    user = f"vr-{uuid.uuid4().hex[:10]}"
    ids = [uuid.uuid4().hex for _ in range(VERDICTS_PER_WINDOW + 1)]
    for answer_id in ids:
        app_parts.records.add_answer(AnswerRecord(answer_id=answer_id, user_id=user,
                                                  source="llm"))
    for answer_id in ids[:VERDICTS_PER_WINDOW]:
        r = await client.post(f"/v1/answers/{answer_id}/feedback", json={"verdict": "right"},
                              headers=auth(app_settings, user))
        assert r.status_code == 200, r.text
    r = await client.post(f"/v1/answers/{ids[-1]}/feedback", json={"verdict": "right"},
                          headers=auth(app_settings, user))
    assert r.status_code == 429 and r.json()["error"]["code"] == "FEEDBACK_RATE_LIMITED"
    assert int(r.headers["retry-after"]) >= 1
    assert len(verdicts_of(app_parts, user)) == VERDICTS_PER_WINDOW


async def test_changing_one_verdict_again_and_again_counts_against_the_rate(
        client: httpx.AsyncClient, app_settings: Settings, app_parts: Any) -> None:
    user = f"vc-{uuid.uuid4().hex[:10]}"
    answer_id, other = uuid.uuid4().hex, uuid.uuid4().hex
    for rid in (answer_id, other):
        app_parts.records.add_answer(AnswerRecord(answer_id=rid, user_id=user, source="llm"))
    for n in range(VERDICTS_PER_WINDOW):
        r = await client.post(f"/v1/answers/{answer_id}/feedback",
                              json={"verdict": ("right", "wrong")[n % 2],
                                    "comment": f"change {n} " + "x" * 1_900},
                              headers=auth(app_settings, user))
        assert r.status_code == 200, r.text
    for rid in (answer_id, other):  # the same answer again, or another one: both refused
        r = await client.post(f"/v1/answers/{rid}/feedback", json={"verdict": "right"},
                              headers=auth(app_settings, user))
        assert r.status_code == 429 and r.json()["error"]["code"] == "FEEDBACK_RATE_LIMITED"
    [kept] = verdicts_of(app_parts, user)  # still one verdict per answer: the last change
    assert kept.verdict == "wrong" and kept.comment.startswith(f"change {VERDICTS_PER_WINDOW - 1}")


async def test_verdicts_older_than_the_retention_are_pruned(
        app_settings: Settings, app_parts: Any) -> None:
    from rag_core.answers.feedback import give_verdict

    user = f"vk-{uuid.uuid4().hex[:10]}"
    old, fresh = uuid.uuid4().hex, uuid.uuid4().hex
    for answer_id in (old, fresh):
        app_parts.records.add_answer(AnswerRecord(answer_id=answer_id, user_id=user,
                                                  source="llm"))
        give_verdict(app_parts.records, app_parts.caches.answers, user, answer_id, "right")
    with psycopg.connect(str(app_settings.services.database_url), autocommit=True) as conn:
        conn.execute("UPDATE answer_feedback SET created_at = now() - make_interval(days => %s)"
                     " WHERE answer_id = %s", (app_settings.observability.feedback_days + 1, old))
    app_parts.records.prune(fixed.ANSWER_RECORD_DAYS, fixed.QUERY_LOG_DAYS,
                            app_settings.observability.feedback_days)
    assert [v.answer_id for v in verdicts_of(app_parts, user)] == [fresh]


async def test_a_note_reads_back_as_written_also_from_before_bodies_were_kept(
        client: httpx.AsyncClient, app_settings: Settings, app_parts: Any) -> None:
    user = new_user(app_parts)
    source = parse_markdown((GOLDEN / "notes" / "amara" / "amara-001.md").read_text(),
                            "amara-001.md")
    r = await client.get(f"/v1/notes/{source.id}", headers=auth(app_settings, user))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["body"] == source.body and got["title"] == source.title
    assert got["tags"] == list(source.tags) and got["date"] == source.date
    r = await client.get(f"/v1/notes/{source.id}", headers=auth(app_settings, "not-" + user))
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"

    with psycopg.connect(str(app_settings.services.database_url), autocommit=True) as conn:
        conn.execute("UPDATE notes SET body = NULL WHERE user_id = %s AND note_id = %s",
                     (user, source.id))
    r = await client.get(f"/v1/notes/{source.id}", headers=auth(app_settings, user))
    assert r.status_code == 200
    assert r.json()["body"].split() == source.body.split()  # the words, each once, in order
