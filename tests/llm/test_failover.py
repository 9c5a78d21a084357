"""The second provider over real HTTP: two mock LLM servers (each with a token of its own), the
generator that ``rag_core.parts.build_generator`` builds from ``RAG_LLM_FALLBACK_*``, and the
pipeline on the fast lane's store. The first provider's outage is served by the second, billed
at its prices and named by the answer's ``model``; both down: the degraded answer. A fallback URL
that is not a URL stops ``rag-core serve`` at start, naming the variable."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from llm_helpers import configure, stats

from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.devservers.mock_server import MockLLM
from rag_core.ingest.ingestion import ingest_notes
from rag_core.llm.failover import Failover
from rag_core.parts import Parts, build_generator, variant
from rag_core.pipeline import Pipeline
from rag_core.redis_kv.client import connect
from rag_core.redis_kv.keys import user_prefix
from rag_core.types import Note

pytestmark = pytest.mark.integration
NOTE = Note(id="wall", title="Walls and Gates", speaker="Pastor Okafor", date="2024-05-05",
            body="Nehemiah rebuilt the wall of Jerusalem in 52 days, with a sword in one hand "
                 "and a trowel in the other.")
QUESTION = "How long did Nehemiah take to rebuild the wall?"
FIRST_PRICES = (0.000001, 0.000002)
SECOND_PRICES = (0.00003, 0.00007)


@pytest.fixture
def second_llm() -> Iterator[str]:
    """A second mock LLM server (the first is ``mock_llm``)."""
    with MockLLM() as (url, _app):
        yield url


def outage(url: str, seconds: float) -> None:
    httpx.post(f"{url}/admin/outage", json={"seconds": seconds}, timeout=5).raise_for_status()


def two_providers(settings: Settings, first: str, second: str) -> Settings:
    configure(first, api_key="first-token", strict_model=True, model="first-model")
    configure(second, api_key="second-token", strict_model=True, model="second-model")
    return settings.with_overrides(
        llm="hf", llm_base_url=f"{first}/v1", hf_token="first-token", llm_model="first-model",
        llm_fallback_base_url=f"{second}/v1", hf_fallback_token="second-token",
        llm_fallback_model="second-model", llm_max_retries=0, breaker_fail_max=2,
        breaker_reset_timeout_s=600.0, semantic_mode="off",
        price_input_per_token_usd=FIRST_PRICES[0], price_output_per_token_usd=FIRST_PRICES[1],
        price_fallback_input_per_token_usd=SECOND_PRICES[0],
        price_fallback_output_per_token_usd=SECOND_PRICES[1])


def pipeline(parts: Parts, settings: Settings, client: object = None) -> Pipeline:
    ingest_notes(parts, "amara", [NOTE], progress=False)
    return Pipeline(variant(parts, settings=settings,
                            generator=build_generator(settings, client)))  # type: ignore[arg-type]


def test_the_outage_of_the_first_is_served_by_the_second_at_its_prices(
        memory_parts: Parts, mock_llm: str, second_llm: str, redis_url: str) -> None:
    settings = two_providers(memory_parts.settings, mock_llm, second_llm)
    client = connect(redis_url, settings.services.redis_mode, timeout_s=5.0)
    pipe = pipeline(memory_parts, settings, client)
    assert isinstance(pipe.parts.generator, Failover)
    fresh = pipe.ask("amara", QUESTION)
    assert fresh.model == "first-model" and stats(second_llm)["requests"] == 0
    assert fresh.cost_usd == pytest.approx(fresh.usage.input_tokens * FIRST_PRICES[0]
                                           + fresh.usage.output_tokens * FIRST_PRICES[1])
    outage(mock_llm, 600)
    answers = [pipe.ask("amara", q) for q in (
        "How long did the rebuilding of the wall take?",
        "How many days did Nehemiah spend on the wall of Jerusalem?",
        "What did Nehemiah rebuild in Jerusalem?",
        "What did Nehemiah hold while rebuilding the wall?")]
    assert {a.model for a in answers} == {"second-model"}
    assert {a.generator for a in answers} == {"hf"} and not any(a.degraded for a in answers)
    for a in answers:
        assert a.cost_usd == pytest.approx(a.usage.input_tokens * SECOND_PRICES[0]
                                           + a.usage.output_tokens * SECOND_PRICES[1])
    # the first's breaker opened after two failures and is not asked any more; the second's
    # state is its own (rag:breaker:hf_fallback), closed
    assert stats(mock_llm)["requests"] == 3 and stats(second_llm)["completed"] == 4
    assert pipe.parts.generator.state == "open"
    raw = redis.Redis.from_url(redis_url)
    assert raw.get("rag:breaker:hf:state") == b"open"
    assert raw.get("rag:breaker:hf_fallback:state") in (None, b"closed")
    assert pipe.parts.generator.second.state == "closed"
    spent = reporting.spend(memory_parts.ledger, "amara")
    assert spent == pytest.approx(fresh.cost_usd + sum(a.cost_usd for a in answers))
    streamed = list(pipe.stream("amara", f"{QUESTION} (streamed)"))
    assert streamed[-1]["type"] == "answer" and streamed[-1]["model"] == "second-model"
    assert "".join(e["text"] for e in streamed if e["type"] == "delta") == \
        streamed[-1]["answer"]


def test_both_down_gives_the_stale_answer_then_the_degraded_one(
        memory_parts: Parts, mock_llm: str, second_llm: str) -> None:
    settings = two_providers(memory_parts.settings, mock_llm, second_llm)
    pipe = pipeline(memory_parts, settings)
    fresh = pipe.ask("amara", QUESTION)
    outage(mock_llm, 600)
    outage(second_llm, 600)
    novel = pipe.ask("amara", "What did Nehemiah hold in his hands?")
    assert novel.degraded and novel.model == "extractive" and novel.cost_usd == 0
    assert novel.degraded_reason.startswith("server_error: ")
    assert stats(mock_llm)["requests"] == 2 and stats(second_llm)["requests"] == 1
    pipe.parts.caches.query.clear(user_prefix("query", None))  # the fresh entry expired
    stale = pipe.ask("amara", QUESTION)  # asked before: the first provider's answer, stale
    assert stale.stale and stale.model == "first-model" and stale.answer == fresh.answer


def test_the_second_provider_refusing_its_token_is_no_answer_of_it(
        memory_parts: Parts, mock_llm: str, second_llm: str) -> None:
    """Each provider gets its own token: the first's is never sent to the second."""
    settings = two_providers(memory_parts.settings, mock_llm, second_llm).with_overrides(
        hf_fallback_token=None)
    pipe = pipeline(memory_parts, settings)
    outage(mock_llm, 600)
    answer = pipe.ask("amara", QUESTION)
    assert answer.degraded and answer.degraded_reason.startswith("server_error: ")
    assert stats(second_llm)["unauthorized"] == 1


def test_a_fallback_url_that_is_not_a_url_stops_serve_naming_the_variable(
        tmp_path: Path) -> None:
    from served_app import clean_env

    env = clean_env(RAG_STATE_DIR=str(tmp_path / "state"),
                    RAG_LLM_FALLBACK_BASE_URL="second-provider:8000")
    out = subprocess.run([sys.executable, "-m", "rag_core", "serve", "--port", "1"],
                         cwd=tmp_path, env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "error INVALID_SETTINGS: llm_fallback_base_url" in out.stderr
    assert "RAG_LLM_FALLBACK_BASE_URL must be an http:// or https:// URL" in out.stderr
    assert not (tmp_path / "state").exists()


def test_a_caller_outside_the_pipeline_is_served_by_the_chain_in_order(
        memory_parts: Parts, mock_llm: str, second_llm: str, redis_url: str) -> None:
    """``Failover.generate`` and ``.stream`` (the model rewrite of a follow-up question calls
    the generator directly): the first provider while it answers, the second in its outage,
    ``LLMUnavailable`` when both are down; readiness is the first one's."""
    from rag_core.errors import LLMUnavailable
    from rag_core.llm.base import Prompt

    settings = two_providers(memory_parts.settings, mock_llm, second_llm)
    chain = build_generator(settings, connect(redis_url, settings.services.redis_mode,
                                              timeout_s=5.0))
    assert isinstance(chain, Failover) and chain.second is not None
    assert chain.startup_check() is None and chain.check_config() is not None
    prompt = Prompt(messages=[{"role": "user", "content": QUESTION}], question=QUESTION,
                    max_tokens=40)
    assert chain.generate(prompt).text and stats(mock_llm)["completed"] == 1
    outage(mock_llm, 600)
    assert chain.generate(prompt).text and stats(second_llm)["completed"] == 1
    assert "".join(chain.stream(prompt)) and stats(second_llm)["completed"] == 2
    assert chain.state == "open"  # two failures opened the first one's breaker
    # a client may retry when the soonest may answer: the second's wait, not the open first's
    assert chain.retry_after() == chain.second.retry_after() < chain.first.retry_after()
    outage(second_llm, 600)
    with pytest.raises(LLMUnavailable):
        chain.generate(prompt)
    with pytest.raises(LLMUnavailable):
        list(chain.stream(prompt))
    chain.reset()  # every breaker closed again (an operator's reset)
    assert chain.state == "closed" and chain.second.state == "closed"


def test_a_stream_the_first_provider_breaks_after_text_is_not_restarted_on_the_second(
        memory_parts: Parts, mock_llm: str, second_llm: str, redis_url: str) -> None:
    """The chain streams the first provider's pieces while it answers; when it fails after some
    text was sent the stream ends with ``LLMUnavailable`` and the second provider is not asked
    (the reader would get a second answer spliced onto the first one's start)."""
    from rag_core.errors import LLMUnavailable
    from rag_core.llm.base import Prompt

    settings = two_providers(memory_parts.settings, mock_llm, second_llm)
    chain = build_generator(settings, connect(redis_url, settings.services.redis_mode,
                                              timeout_s=5.0))
    assert isinstance(chain, Failover)
    prompt = Prompt(messages=[{"role": "user", "content": QUESTION}], question=QUESTION,
                    max_tokens=40)
    whole = list(chain.stream(prompt))
    assert len(whole) > 2 and stats(mock_llm)["completed"] == 1
    configure(mock_llm, stream_error_after=2, tokens_per_s=0)
    pieces: list[str] = []
    with pytest.raises(LLMUnavailable):
        for piece in chain.stream(prompt):
            pieces.append(piece)
    assert pieces == whole[:2]
    assert stats(second_llm)["requests"] == 0
