"""Model routing's rule and settings without a server: which providers a question's chain
keeps, what the route's record says, and the settings that routing refuses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rag_core.config import Settings
from rag_core.decision_records import Decisions, RouteRecord
from rag_core.devservers.mock_app import mock_answer
from rag_core.llm.extractive import ExtractiveGenerator
from rag_core.llm.failover import Provider
from rag_core.llm.route import RouteRule, choose, fell_back

CHEAP = Provider(ExtractiveGenerator(), "cheap-model", None, cheap=True)
MAIN = Provider(ExtractiveGenerator(), "main-model", None)
SECOND = Provider(ExtractiveGenerator(), "second-model", None, fallback=True)
CHAIN = (CHEAP, MAIN, SECOND)


def routing(**changes: object) -> Settings:
    return Settings(llm_route="on", llm_cheap_model="cheap-model", **changes)  # type: ignore[arg-type]


def test_a_short_kind_and_a_small_context_keep_the_whole_chain() -> None:
    rule = RouteRule(100, ("time", "count"), kind_of=lambda q: "time")
    chain, record = choose(CHAIN, routing().routing, "When?", 80, rule)
    assert chain == CHAIN
    assert record is not None and (record.route, record.model, record.reason) == \
        ("cheap", "cheap-model", "easy")


def test_an_open_kind_goes_to_the_main_model_naming_the_rule() -> None:
    rule = RouteRule(100, ("time", "count"), kind_of=lambda q: "reason")
    chain, record = choose(CHAIN, routing().routing, "Why?", 80, rule)
    assert chain == (MAIN, SECOND)
    assert record is not None and (record.route, record.model, record.reason) == \
        ("main", "main-model", "kind")
    assert "asks for reason" in record.checks["kind"].detail


def test_no_kinds_means_any_kind_and_the_context_alone_decides() -> None:
    rule = RouteRule(100, (), kind_of=lambda q: "description")
    small = choose(CHAIN, routing().routing, "Tell me", 100, rule)[1]
    large = choose(CHAIN, routing().routing, "Tell me", 101, rule)[1]
    assert small is not None and small.route == "cheap"
    assert large is not None and large.reason == "context_tokens"


def test_routing_off_leaves_the_cheap_model_out_and_records_nothing() -> None:
    off = Settings(llm_route="off", llm_cheap_model="cheap-model")  # type: ignore[arg-type]
    assert choose(CHAIN, off.routing, "When?", 1) == ((MAIN, SECOND), None)
    assert choose((MAIN,), routing().routing, "When?", 1) == ((MAIN,), None)


def test_the_record_reads_back_and_marks_a_fall_back() -> None:
    rule = RouteRule(100, (), kind_of=lambda q: "time")
    record = fell_back(choose(CHAIN, routing().routing, "When?", 1, rule)[1])
    assert record is not None and record.fell_back
    assert Decisions.from_dict(Decisions(route=record).to_dict()).route == record
    assert RouteRecord.from_dict({}) == RouteRecord("", "", "")


def test_the_question_kind_is_the_decisions_reading() -> None:
    rule = RouteRule.of(routing().routing)
    assert rule.checks("How many days did it take?", 10)["kind"].passed
    assert not rule.checks("Why did he rebuild the wall?", 10)["kind"].passed


def test_routing_on_needs_the_cheap_model_and_kinds_read_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="RAG_LLM_CHEAP_MODEL"):
        Settings(llm_route="on")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="RAG_LLM_CHEAP_BASE_URL"):
        routing(llm_cheap_base_url="cheap:8000")
    monkeypatch.setenv("RAG_LLM_ROUTE_KINDS", "person, time")
    assert Settings().routing.llm_route_kinds == ["person", "time"]  # type: ignore[call-arg]
    prices = routing(price_cheap_input_per_token_usd=0.5)
    money = prices.cheap_model.prices(prices.money)
    assert money.price_input_per_token_usd == 0.5
    assert money.price_output_per_token_usd == prices.money.price_output_per_token_usd


def test_the_weaker_mock_cites_only_its_first_notes() -> None:
    user = ('<notes>\n<note n="1">\nSermon 1\nNehemiah built the wall.\n</note>\n'
            '<note n="2">\nSermon 2\nThe wall took 52 days.\n</note>\n</notes>\n'
            "<question>How long was the wall?</question>")
    messages = [{"role": "user", "content": user}]
    assert "[1]" in mock_answer(messages) and "[2]" in mock_answer(messages)
    weaker = mock_answer(messages, cite_notes=1)
    assert "[1]" in weaker and "[2]" not in weaker
