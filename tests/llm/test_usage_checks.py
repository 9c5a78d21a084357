"""A provider that lies about usage, over real HTTP (the mock LLM reporting fixed figures) with
the cost ledger in a real Redis: negative, missing and absurd usage of the first and of the
second provider is billed at the service's own count, never below zero and never past the
reservation; the answer says ``usage_source``; the rejections are counted by provider and
reason. Through the API the same answers are 200s, the JSON and the stream's final event
carrying ``usage_source``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from llm_helpers import configure, stats
from test_failover import (
    FIRST_PRICES,
    NOTE,
    QUESTION,
    SECOND_PRICES,
    outage,
    pipeline,
    second_llm,  # noqa: F401 - the fixture
    two_providers,
)

from rag_core.answer import Answer
from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.costs.ledger import ledger_for, price
from rag_core.ingest.ingestion import ingest_notes
from rag_core.llm import usage as usage_check
from rag_core.parts import Parts, build_generator
from rag_core.redis_kv.client import connect
from rag_core.telemetry import metrics
from rag_core.types import TokenUsage

pytestmark = pytest.mark.integration
NEGATIVE = {"usage_prompt_tokens": -10_000_000, "usage_completion_tokens": -5_000_000}
ABSURD = {"usage_prompt_tokens": 10**12, "usage_completion_tokens": 10**12}
SECRET = "usage-checks-test-secret-0b6c5d4e3f2a19080706050403020100ffeeddccbbaa"


def rejected(provider: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value("llm_usage_rejected_total",
                                              {"provider": provider, "reason": reason})
    return value or 0.0


def with_redis_ledger(parts: Parts, settings: Settings, redis_url: str) -> Parts:
    """The parts with the cost ledger's totals in the real Redis."""
    client = connect(redis_url, settings.services.redis_mode, timeout_s=5.0)
    return replace(parts, settings=settings, ledger=ledger_for(client, settings))


def counted_cost(answer: Answer, prices: tuple[float, float]) -> float:
    """What the answer's tokens cost at ``prices``."""
    return answer.usage.input_tokens * prices[0] + answer.usage.output_tokens * prices[1]


@pytest.mark.parametrize(("lie", "reason"), [(NEGATIVE, "negative"), (ABSURD, "output_over_max"),
                                             ({"send_usage": False}, "missing"),
                                             ({"usage_prompt_tokens": 1}, "input_mismatch")])
def test_the_first_provider_lying_is_billed_at_the_counted_tokens(
        memory_parts: Parts, mock_llm: str, second_llm: str, redis_url: str,  # noqa: F811
        lie: dict[str, Any], reason: str) -> None:
    settings = two_providers(memory_parts.settings, mock_llm, second_llm)
    parts = with_redis_ledger(memory_parts, settings, redis_url)
    pipe = pipeline(parts, settings)
    honest = pipe.ask("amara", QUESTION)
    assert honest.usage_source == "provider" and honest.cost_usd > 0
    configure(mock_llm, **lie)
    before, sent = rejected("llm", reason), stats(mock_llm)["completion_tokens"]
    lied = pipe.ask("amara", f"{QUESTION} Say it again.")
    assert lied.usage_source == "counted" and lied.model == "first-model"
    assert rejected("llm", reason) == before + 1
    # the output billed is the text received, as the server itself counted it
    assert lied.usage.output_tokens == stats(mock_llm)["completion_tokens"] - sent
    assert 0 < lied.usage.input_tokens < 10_000 and 0 < lied.usage.output_tokens <= 400
    assert lied.cost_usd == pytest.approx(counted_cost(lied, FIRST_PRICES))
    assert reporting.spend(parts.ledger, "amara") == pytest.approx(honest.cost_usd + lied.cost_usd)
    assert reporting.global_spend(parts.ledger) == pytest.approx(honest.cost_usd + lied.cost_usd)
    assert reporting.reserved(parts.ledger, "amara") == pytest.approx(0.0, abs=1e-12)


def test_the_second_provider_reporting_absurd_usage_closes_nothing(
        memory_parts: Parts, mock_llm: str, second_llm: str, redis_url: str) -> None:  # noqa: F811
    """10^12 tokens each way from the second provider: billed as counted at its prices, under
    the reservation's ceiling; another user's next question is answered."""
    settings = two_providers(memory_parts.settings, mock_llm, second_llm).with_overrides(
        user_daily_budget_usd=1.0, global_daily_budget_usd=2.0)
    parts = with_redis_ledger(memory_parts, settings, redis_url)
    pipe = pipeline(parts, settings)
    outage(mock_llm, 600)
    configure(second_llm, **ABSURD)
    before = rejected("llm_fallback", "output_over_max")
    lied = pipe.ask("amara", QUESTION)
    assert lied.model == "second-model" and lied.usage_source == "counted"
    assert rejected("llm_fallback", "output_over_max") == before + 1
    assert lied.cost_usd == pytest.approx(counted_cost(lied, SECOND_PRICES))
    worst = price(usage_check.ceiling(lied.usage.input_tokens, 400),
                  settings.money.fallback_prices())
    assert 0 < lied.cost_usd <= worst < 0.1
    ingest_notes(parts, "ben", [NOTE], progress=False)  # the same note for another user
    other = pipe.ask("ben", QUESTION)
    assert not other.degraded and other.model == "second-model"
    assert reporting.global_spend(parts.ledger) == pytest.approx(lied.cost_usd + other.cost_usd)


def test_the_second_provider_reporting_negative_usage_never_lowers_the_ledger(
        memory_parts: Parts, mock_llm: str, second_llm: str, redis_url: str) -> None:  # noqa: F811
    settings = two_providers(memory_parts.settings, mock_llm, second_llm)
    parts = with_redis_ledger(memory_parts, settings, redis_url)
    pipe = pipeline(parts, settings)
    outage(mock_llm, 600)
    configure(second_llm, **NEGATIVE)
    lied = pipe.ask("amara", QUESTION)
    assert lied.model == "second-model" and lied.usage_source == "counted"
    assert lied.cost_usd == pytest.approx(counted_cost(lied, SECOND_PRICES))
    assert lied.cost_usd > 0
    assert reporting.spend(parts.ledger, "amara") == pytest.approx(lied.cost_usd)
    report = reporting.report(parts.ledger)
    assert report["total_usd"] >= 0 and all(r["cost_usd"] >= 0 for r in report["top"])


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(Settings(jwt_secret=SECRET), user)}"}


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_through_the_api_a_lying_provider_is_a_200_saying_counted(
        memory_parts: Parts, mock_llm: str, redis_url: str, anyio_backend: str) -> None:
    settings = memory_parts.settings.with_overrides(
        jwt_secret=SECRET, similarity_threshold=0.1, llm="hf", llm_base_url=f"{mock_llm}/v1",
        llm_max_retries=0, semantic_mode="off")
    parts = replace(with_redis_ledger(memory_parts, settings, redis_url),
                    generator=build_generator(settings, None))
    configure(mock_llm, **NEGATIVE)
    app = create_app(settings, parts=parts)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        note = {k: v for k, v in NOTE.__dict__.items() if k in ("title", "body", "date",
                                                                 "speaker")}
        put = await client.put("/v1/notes/wall", json=note, headers=auth("amara"))
        assert put.status_code in (200, 201), put.text
        plain = await client.post("/v1/query", json={"query": QUESTION}, headers=auth("amara"))
        assert plain.status_code == 200, plain.text
        body = plain.json()
        assert body["usage_source"] == "counted" and body["cost_usd"] >= 0
        streamed = await client.post("/v1/query", json={"query": f"{QUESTION} Again.",
                                                        "stream": True}, headers=auth("amara"))
        assert streamed.status_code == 200
        final = streamed.text.split("event: answer\ndata: ")[-1]
        assert '"usage_source":"counted"' in final.replace(" ", "")
        schema = (await client.get("/openapi.json")).json()
        field = schema["components"]["schemas"]["AnswerOut"]["properties"]["usage_source"]
        assert field["enum"] == ["provider", "counted"]
    assert reporting.spend(parts.ledger, "amara") >= 0


def test_usage_within_the_tolerances_is_the_providers() -> None:
    assert usage_check.judge(100, 400, 100, 400) is None
    assert usage_check.judge(140, 405, 100, 400) is None  # a template, a stop token
    assert usage_check.judge(100, 409, 100, 400) == "output_over_max"
    assert usage_check.judge(10**6, 10, 100, 400) == "input_mismatch"
    assert usage_check.judge(0, 10, 1000, 400) == "input_mismatch"
    assert usage_check.judge(-1, 10, 100, 400) == "negative"
    assert usage_check.judge(100.5, 10, 100, 400) == "not_integer"
    assert usage_check.judge("100", 10, 100, 400) == "not_integer"
    assert usage_check.judge(True, 10, 100, 400) == "not_integer"
    assert usage_check.judge(None, 10, 100, 400) == "missing"
    assert usage_check.ceiling(100, 400) == TokenUsage(214, 408)
