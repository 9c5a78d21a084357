"""Verdicts on answers and the dollars a cache hit saved, through the app (ASGITransport) on
the real pipeline, PostgreSQL and Redis, with the ``hf`` generator against the mock LLM so
that an answer costs money. Each module run asks as a user of its own (a copy of amara's
notes), so that no other test's cached answer is met."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.cache.semantic import judge_for
from rag_core.config import Settings
from rag_core.costs.ledger import price
from rag_core.telemetry import metrics
from rag_core.types import TokenUsage
from tests.tags import question_tag

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
GOLDEN = Path(__file__).resolve().parents[2] / "golden"
# a labelled paraphrase pair of amara's library (golden/semantic_pairs/amara_ben.jsonl)
ASKED = "How old was Abraham when he left Haran?"
REWORDED = "At what age did Abraham set out from Haran?"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def paid_parts(app_settings: Settings, app_parts: Any) -> Iterator[Any]:
    from dataclasses import replace

    from rag_core.devservers.mock_server import MockLLM
    from rag_core.llm import build_generator

    with MockLLM() as (url, _):
        generator = build_generator(app_settings.with_overrides(
            llm="hf", llm_base_url=f"{url}/v1", llm_max_retries=0))
        # the loose semantic mode: these tests need a reuse to happen (strict, the default,
        # reuses none of the golden paraphrases); what a verdict does to it is the same
        loose = app_parts.caches.semantic.with_judge(judge_for(
            app_parts.settings.with_overrides(semantic_mode="loose")))
        yield replace(app_parts, generator=generator,
                      caches=replace(app_parts.caches, semantic=loose))


@pytest.fixture(scope="module")
def user(app_parts: Any) -> str:
    from rag_core.ingest.ingestion import ingest_path

    name = f"fb-{uuid.uuid4().hex[:10]}"
    ingest_path(app_parts, name, GOLDEN / "notes" / "amara", progress=False)
    return name


@pytest.fixture
def client(app_settings: Settings, paid_parts: Any) -> httpx.AsyncClient:
    app = create_app(app_settings, parts=paid_parts)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def auth(settings: Settings, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, user)}"}


def metric(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def ask(client: httpx.AsyncClient, settings: Settings, user: str,
              question: str) -> dict[str, Any]:
    r = await client.post("/v1/query", json={"query": question}, headers=auth(settings, user))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def verdict(client: httpx.AsyncClient, settings: Settings, user: str, answer_id: str,
                  body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/v1/answers/{answer_id}/feedback", json=body,
                             headers=auth(settings, user))


async def test_a_hit_counts_the_dollars_it_saved(client: httpx.AsyncClient,
                                                 app_settings: Settings, user: str) -> None:
    question = f"What did Pastor Okafor say about the mango seedlings? ({question_tag()})"
    first = await ask(client, app_settings, user, question)
    assert first["generator"] == "hf" and first["cost_usd"] > 0 and first["answer_id"]
    would_cost = price(TokenUsage(**first["usage"]), app_settings.money)
    before = metric("cache_saved_dollars_total", layer="query")
    stats_before = (await client.get("/v1/stats", headers=auth(app_settings, user))).json()

    again = await ask(client, app_settings, user, question)
    assert again["cache"]["query"] == "hit" and again["cost_usd"] == 0
    assert again["answer_id"] == f"{first['answer_id']}.query"
    assert metric("cache_saved_dollars_total", layer="query") - before == pytest.approx(
        would_cost)
    stats = (await client.get("/v1/stats", headers=auth(app_settings, user))).json()
    assert stats["cost"]["saved_today_usd"] - stats_before["cost"]["saved_today_usd"] == \
        pytest.approx(would_cost, abs=1e-6)
    assert stats["cost"]["spent_today_usd"] == stats_before["cost"]["spent_today_usd"]


async def test_a_hit_on_a_free_answer_saved_nothing(app_settings: Settings,
                                                    app_parts: Any, user: str) -> None:
    """The extractive generator costs nothing: a hit on its answer replaced no paid call."""
    app = create_app(app_settings, parts=app_parts)  # the module's extractive generator
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as free:
        question = f"How many mango seedlings did Mama Ngozi plant? ({question_tag()})"
        first = await ask(free, app_settings, user, question)
        assert first["generator"] == "extractive", first  # the answer says why when it is not
        before = metric("cache_saved_dollars_total", layer="query")
        again = await ask(free, app_settings, user, question)
        assert again["cache"]["query"] == "hit"
        assert metric("cache_saved_dollars_total", layer="query") == before


async def test_wrong_takes_the_answer_out_and_the_next_ask_is_fresh(
        client: httpx.AsyncClient, app_settings: Settings, user: str) -> None:
    question = f"What did the pastor's grandmother plant? ({question_tag()})"
    first = await ask(client, app_settings, user, question)
    hit = await ask(client, app_settings, user, question)
    assert hit["cache"]["query"] == "hit"
    wrong_before = metric("answer_feedback_total", verdict="wrong", source="query")

    r = await verdict(client, app_settings, user, hit["answer_id"],
                      {"verdict": "wrong", "comment": "that was not what she planted"})
    assert r.status_code == 200, r.text
    assert r.json() == {"answer_id": hit["answer_id"], "verdict": "wrong", "source": "query",
                        "removed_from_cache": True}
    assert metric("answer_feedback_total", verdict="wrong", source="query") == wrong_before + 1

    fresh = await ask(client, app_settings, user, question)
    assert fresh["cache"]["query"] == "miss" and fresh["cache"]["semantic"] == "miss"
    assert fresh["generator"] == "hf" and fresh["cost_usd"] > 0
    assert fresh["answer_id"] not in (first["answer_id"], hit["answer_id"])


async def test_wrong_on_a_semantic_reuse_stops_the_reuse(
        client: httpx.AsyncClient, app_settings: Settings, user: str, paid_parts: Any) -> None:
    original = await ask(client, app_settings, user, ASKED)
    assert original["generator"] == "hf"
    saved = metric("cache_saved_dollars_total", layer="semantic")
    reused = await ask(client, app_settings, user, REWORDED)
    assert reused["cache"]["query"] == "semantic_hit", reused["cache"]
    assert reused["answer"] == original["answer"]
    assert reused["answer_id"] != original["answer_id"]
    assert metric("cache_saved_dollars_total", layer="semantic") - saved == pytest.approx(
        price(TokenUsage(**original["usage"]), app_settings.money))

    r = await verdict(client, app_settings, user, reused["answer_id"], {"verdict": "wrong"})
    assert r.status_code == 200 and r.json()["source"] == "semantic"
    again = await ask(client, app_settings, user, REWORDED)
    assert again["cache"]["query"] == "miss" and again["cache"]["semantic"] == "miss"
    assert again["generator"] == "hf"

    stored = [v for v in paid_parts.records.verdicts() if v.answer_id == reused["answer_id"]]
    assert len(stored) == 1 and stored[0].verdict == "wrong"
    assert stored[0].question == REWORDED and stored[0].matched_question == ASKED


async def test_a_verdict_on_someone_elses_answer_is_refused(
        client: httpx.AsyncClient, app_settings: Settings, user: str) -> None:
    question = f"Who walked beside Pastor Okafor in the marathon? ({question_tag()})"
    mine = await ask(client, app_settings, user, question)
    for who, answer_id in (("someone-else", mine["answer_id"]),
                           ("someone-else", f"{mine['answer_id']}.query"),
                           (user, uuid.uuid4().hex), (user, "not-an-id")):
        r = await verdict(client, app_settings, who, answer_id, {"verdict": "wrong"})
        assert r.status_code == 404, (who, answer_id, r.text)
        assert r.json()["error"]["code"] == "ANSWER_NOT_FOUND"
    hit = await ask(client, app_settings, user, question)
    assert hit["cache"]["query"] == "hit"  # the refused verdicts removed nothing
    r = await verdict(client, app_settings, user, mine["answer_id"], {"verdict": "maybe"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_REQUEST"


async def test_the_stream_ends_with_an_answer_id(client: httpx.AsyncClient,
                                                 app_settings: Settings, user: str) -> None:
    question = f"What did the pastor say about Haran? ({question_tag()})"
    r = await client.post("/v1/query", json={"query": question, "stream": True},
                          headers=auth(app_settings, user))
    assert r.status_code == 200
    events = [block for block in r.text.split("\n\n") if block.startswith("event: answer")]
    final = json.loads(events[-1].split("data: ", 1)[1])
    assert len(final["answer_id"]) == 32
    r = await verdict(client, app_settings, user, final["answer_id"], {"verdict": "right"})
    assert r.status_code == 200 and r.json()["source"] == "llm"


async def test_the_feedback_export_is_read_by_the_harness(
        client: httpx.AsyncClient, app_settings: Settings, user: str, paid_parts: Any,
        tmp_path: Path) -> None:
    from evals.datasets import golden
    from rag_core.answers.feedback import export_verdicts

    question = f"Who held the sign at the marathon? ({question_tag()})"
    answer = await ask(client, app_settings, user, question)
    r = await verdict(client, app_settings, user, answer["answer_id"],
                      {"verdict": "right", "comment": "yes"})
    assert r.status_code == 200
    counts = export_verdicts(paid_parts.records, tmp_path)
    assert counts["qa"] >= 1
    qa = golden.load_qa(tmp_path)
    mine = qa[qa["question"] == question]
    assert len(mine) == 1
    assert mine.iloc[0]["reference_answer"] == answer["answer"]
    assert mine.iloc[0]["user_id"] == user and mine.iloc[0]["id"].startswith("fb-right-")
    assert len(golden.load_qa_dataset(tmp_path)) == len(qa)
    pairs = golden.load_semantic_pairs(tmp_path)
    assert all(p["label"] in ("near_miss", "paraphrase") and p["a"] and p["b"] for p in pairs)
