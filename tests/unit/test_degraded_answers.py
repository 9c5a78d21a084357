"""The order of fallbacks when the model fails, in the fast lane (in-process store and caches, a
generator at the edge that fails on demand): the stale answer first, then the degraded answer
made from the notes by the extractive generator (``RAG_LLM_FALLBACK=extractive``), or the 503
(``none``); a second provider before both (``rag_core.llm.failover``). Over real HTTP with the
mock LLM: tests/llm/test_failover.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fakes import ManualClock

from rag_core.answers import degraded
from rag_core.costs import reporting
from rag_core.errors import LLMMisconfigured, LLMUnavailable
from rag_core.ingest.ingestion import ingest_notes
from rag_core.llm.base import Generation, Prompt
from rag_core.llm.failover import Failover
from rag_core.llm.failures import MisconfiguredLLMError, TransientLLMError
from rag_core.llm.resilience import ResilientGenerator
from rag_core.parts import Parts
from rag_core.pipeline import NO_CONTEXT_ANSWER, Pipeline
from rag_core.redis_kv.keys import user_prefix
from rag_core.telemetry.metrics import REGISTRY
from rag_core.types import Note, TokenUsage

NOTES = [
    Note(id="n1", title="Faith That Walks", speaker="Pastor Okafor", date="2024-03-10",
         body="Abraham was seventy-five years old when he left Haran. God told him to go to a "
              "land he would be shown later. Faith usually gets a flashlight, not a floodlight."),
]
QUESTION = "How old was Abraham when he left Haran?"
ANSWER = "Abraham was seventy-five [1]."


class Edge:
    """A model at the edge: answers ``ANSWER``, or fails as ``failure`` says; counts calls."""

    name = "hf"

    def __init__(self, model: str = "first-model") -> None:
        self.model = model
        self.failure: Exception | None = None
        self.calls = 0

    def generate(self, prompt: Prompt) -> Generation:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return Generation(ANSWER, TokenUsage(1000, 10), self.model)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        yield self.generate(prompt).text


def guarded(parts: Parts, edge: Edge, **kwargs: Any) -> ResilientGenerator:
    calls = parts.settings.model_calls
    return ResilientGenerator(edge, calls, None, clock=ManualClock(), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def parts(memory_parts: Parts) -> Parts:
    ingest_notes(memory_parts, "amara", NOTES, progress=False)
    settings = memory_parts.settings.with_overrides(llm_max_retries=0, breaker_fail_max=2)
    return replace(memory_parts, settings=settings)


def with_edge(parts: Parts, edge: Edge, **changes: Any) -> Parts:
    settings = parts.settings.with_overrides(**changes) if changes else parts.settings
    parts = replace(parts, settings=settings)
    return replace(parts, generator=guarded(parts, edge))


def forget_fresh_answers(parts: Parts) -> None:
    """The query and semantic layers expire; the stale store keeps its answers."""
    parts.caches.query.clear(user_prefix("query", None))
    parts.caches.semantic.clear()


def degraded_count(reason: str) -> float:
    return REGISTRY.get_sample_value("answers_degraded_total", {"reason": reason}) or 0.0


def test_a_failed_model_without_a_stale_answer_is_answered_from_the_notes(parts: Parts) -> None:
    edge = Edge()
    edge.failure = TransientLLMError("HTTP 503", status=503)
    parts = with_edge(parts, edge)
    before = degraded_count("server_error")
    answer = Pipeline(parts).ask("amara", QUESTION)
    assert answer.degraded and answer.degraded_reason.startswith("server_error: ")
    assert answer.generator == "extractive" and answer.model == "extractive"
    assert not answer.no_context and "seventy-five" in answer.answer
    assert [c.note_id for c in answer.citations] == ["n1"]
    assert answer.cost_usd == 0 and reporting.spend(parts.ledger, "amara") == 0
    assert reporting.reserved(parts.ledger, "amara") == 0
    assert degraded_count("server_error") == before + 1
    data = answer.to_dict()
    assert data["degraded"] is True and data["degraded_reason"] == answer.degraded_reason


def test_a_degraded_answer_is_not_cached_and_the_model_answers_once_back(parts: Parts) -> None:
    edge = Edge()
    edge.failure = TransientLLMError("connection: refused")
    parts = with_edge(parts, edge, breaker_fail_max=5)  # two failures leave it closed
    pipe = Pipeline(parts)
    first = pipe.ask("amara", QUESTION)
    assert first.degraded and first.degraded_reason.startswith("connection: ")
    again = pipe.ask("amara", QUESTION)  # not from the query cache: the model is tried again
    assert again.degraded and again.cache["query"] == "miss" and edge.calls == 2
    edge.failure = None
    back = pipe.ask("amara", QUESTION)
    assert not back.degraded and back.generator == "hf" and back.model == "first-model"
    assert back.answer == ANSWER and back.cost_usd > 0 and edge.calls == 3
    assert "degraded" not in back.to_dict() and "degraded_reason" not in back.to_dict()


def test_a_stale_answer_comes_before_a_degraded_one(parts: Parts) -> None:
    edge = Edge()
    parts = with_edge(parts, edge)
    pipe = Pipeline(parts)
    assert pipe.ask("amara", QUESTION).answer == ANSWER
    forget_fresh_answers(parts)  # the query layer forgets; the stale store keeps it
    edge.failure = TransientLLMError("timeout: ReadTimeout", timed_out=True)
    stale = pipe.ask("amara", QUESTION)
    assert stale.stale and not stale.degraded and stale.answer == ANSWER
    assert stale.model == "first-model"


def test_with_fallback_none_the_failure_is_the_503_it_was(parts: Parts) -> None:
    edge = Edge()
    edge.failure = TransientLLMError("HTTP 502", status=502)
    pipe = Pipeline(with_edge(parts, edge, llm_fallback="none"))
    with pytest.raises(LLMUnavailable) as info:
        pipe.ask("amara", QUESTION)
    assert info.value.code == "LLM_UNAVAILABLE" and info.value.retry_after
    with pytest.raises(LLMUnavailable):
        list(pipe.stream("amara", QUESTION))


def test_an_open_breaker_degrades_with_its_reason_and_without_a_call(parts: Parts) -> None:
    edge = Edge()
    edge.failure = TransientLLMError("HTTP 500", status=500)
    pipe = Pipeline(with_edge(parts, edge))
    for _ in range(2):  # breaker_fail_max
        pipe.ask("amara", QUESTION)
    assert pipe.parts.generator.state == "open" and edge.calls == 2
    answer = pipe.ask("amara", QUESTION)
    assert answer.degraded_reason.startswith("breaker_open: ") and edge.calls == 2


def test_a_misconfigured_model_is_still_refused(parts: Parts) -> None:
    edge = Edge()
    edge.failure = MisconfiguredLLMError("unauthorized", "HTTP 401")
    with pytest.raises(LLMMisconfigured):
        Pipeline(with_edge(parts, edge)).ask("amara", QUESTION)


def test_the_stream_ends_with_the_degraded_fields_and_sends_the_whole_text(
        parts: Parts) -> None:
    edge = Edge()
    edge.failure = TransientLLMError("HTTP 503", status=503)
    events = list(Pipeline(with_edge(parts, edge)).stream("amara", QUESTION))
    final = events[-1]
    assert final["type"] == "answer" and final["degraded"] is True
    assert final["degraded_reason"].startswith("server_error: ")
    assert "".join(e["text"] for e in events if e["type"] == "delta") == final["answer"]


def test_the_no_context_decision_comes_first(parts: Parts) -> None:
    edge = Edge()
    edge.failure = TransientLLMError("HTTP 503", status=503)
    answer = Pipeline(with_edge(parts, edge)).ask("amara", "What did Castellanos say about exile?")
    assert answer.answer == NO_CONTEXT_ANSWER and not answer.degraded and edge.calls == 0
    assert answer.model == "none" and answer.generator == "none"


def test_the_output_guard_checks_a_degraded_answer(parts: Parts,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A citation of a note that was not retrieved is dropped, as from a model's answer."""
    edge = Edge()
    edge.failure = TransientLLMError("HTTP 503", status=503)
    monkeypatch.setattr(degraded, "extractive_answer", lambda prompt: Generation(
        "Seventy-five [1], or so [9].", TokenUsage(), "extractive"))
    answer = Pipeline(with_edge(parts, edge)).ask("amara", QUESTION)
    assert answer.degraded and "[9]" not in answer.answer
    assert [c.n for c in answer.citations] == [1]


def test_the_second_provider_answers_at_its_own_prices_before_any_fallback(
        parts: Parts) -> None:
    settings = parts.settings.with_overrides(
        llm_fallback_base_url="http://second.invalid/v1", llm_fallback_model="second-model",
        price_fallback_input_per_token_usd=0.00001, price_fallback_output_per_token_usd=0.0001)
    parts = replace(parts, settings=settings)
    first, second = Edge(), Edge("second-model")
    first.failure = TransientLLMError("HTTP 503", status=503)
    both = Failover(guarded(parts, first), guarded(parts, second, breaker="hf_fallback",
                                                   gauge="llm_fallback"))
    answer = Pipeline(replace(parts, generator=both)).ask("amara", QUESTION)
    assert not answer.degraded and answer.model == "second-model" and answer.generator == "hf"
    assert answer.cost_usd == pytest.approx(1000 * 0.00001 + 10 * 0.0001)
    assert reporting.spend(parts.ledger, "amara") == pytest.approx(answer.cost_usd)
    assert first.calls == 1 and second.calls == 1
    second.failure = TransientLLMError("HTTP 503", status=503)
    forget_fresh_answers(parts)
    assert Pipeline(replace(parts, generator=both)).ask("amara", QUESTION).stale
    assert reporting.reserved(parts.ledger, "amara") == 0


def test_a_fallback_url_that_is_not_a_url_names_its_variable(parts: Parts) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="RAG_LLM_FALLBACK_BASE_URL must be an http"):
        parts.settings.with_overrides(llm_fallback_base_url="second-provider:8000")


def test_ask_prints_why_an_answer_is_degraded(parts: Parts,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from rag_core.cli.remote import print_answer

    edge = Edge()
    edge.failure = TransientLLMError("timeout: ReadTimeout", timed_out=True)
    print_answer(Pipeline(with_edge(parts, edge)).ask("amara", QUESTION).to_dict(), False)
    out = capsys.readouterr().out
    assert "(degraded: timeout: the model did not answer in time" in out
    print_answer(Pipeline(with_edge(parts, Edge())).ask("amara", QUESTION).to_dict(), False)
    assert "degraded" not in capsys.readouterr().out
