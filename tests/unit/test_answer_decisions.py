"""The typed decisions of an answer keep the JSON of ``ask --json`` and of the API exactly: the
parts a request reached, each a record with named fields, written in one place
(``Decisions.to_dict``) and read back from a cached answer the same."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from rag_core.answer import Answer
from rag_core.decision_records import (
    Decisions,
    DeclineRecord,
    FiltersRecord,
    NarrowedRecord,
    RelevanceRecord,
    RuleCheck,
    SemanticRecord,
)
from rag_core.types import TokenUsage

SEMANTIC = {"hit": False, "reason": "canonical", "similarity": 0.91, "matched_query": "q",
            "checks": {"canonical": {"passed": False, "detail": "'a' is not 'b'"}},
            "candidates": 2}
NO_CANDIDATE = {"hit": False, "reason": "no_candidate", "why": "no cached question close enough",
                "candidates": 0}
RELEVANCE = {"answer": False, "reason": "names",
             "checks": {"names": {"passed": False, "detail": "in none of your notes: ['x']"}}}
FILTERS = {"matched": False, "filters": {"speaker": "Ann", "tags": ["a", "b"]},
           "described": "speaker 'Ann'"}
DECLINED = {"by": "mock", "detail": "the model replied with the decline marker"}
NARROWED = {"speaker": ["Ann Lee"], "speaker_words": ["lee"], "described": "speaker 'Ann Lee'"}
FIELDS = ["answer", "citations", "no_context", "generator", "cache", "usage", "cost_usd",
          "timings_ms", "request_id", "usage_source", "stale", "query_truncated", "flags",
          "retrieved", "budget_state", "decisions", "answer_id", "question", "no_context_reason",
          "model", "made_at"]


def _answer(decisions: Decisions) -> Answer:
    return Answer(answer="a", citations=[], no_context=True, generator="none",
                  cache={"query": "miss"}, usage=TokenUsage(), cost_usd=0.0, timings_ms={},
                  request_id="r", decisions=decisions)


def test_the_json_holds_the_parts_reached_in_the_order_of_the_fields() -> None:
    decisions = Decisions(semantic=SemanticRecord(
        False, "canonical", 0.91, "q", {"canonical": RuleCheck(False, "'a' is not 'b'")}, 2),
        relevance=RelevanceRecord(False, "names", {
            "names": RuleCheck(False, "in none of your notes: ['x']")}))
    data = _answer(decisions).to_dict()
    assert list(data) == FIELDS
    assert json.dumps(data["decisions"]) == json.dumps({"semantic": SEMANTIC,
                                                        "relevance": RELEVANCE})
    assert _answer(Decisions()).to_dict()["decisions"] == {}


@pytest.mark.parametrize("part,data", [
    ("semantic", SEMANTIC), ("semantic", NO_CANDIDATE), ("relevance", RELEVANCE),
    ("filters", FILTERS), ("declined", DECLINED), ("narrowed", NARROWED)])
def test_each_record_writes_the_json_it_reads(part: str, data: dict[str, object]) -> None:
    decisions = Decisions.from_dict({part: data})
    assert json.dumps(decisions.to_dict()) == json.dumps({part: data})  # keys in order too


def test_a_record_kept_before_a_field_existed_reads_without_it() -> None:
    old = {k: v for k, v in SEMANTIC.items() if k != "candidates"}
    record = Decisions.from_dict({"semantic": old, "relevance": "not an object"})
    assert record.semantic is not None and record.semantic.candidates is None
    assert record.relevance is None and record.to_dict() == {"semantic": old}


def test_a_cached_answer_reads_back_the_same_decisions_and_reasons() -> None:
    answer = _answer(Decisions.from_dict({"relevance": RELEVANCE, "declined": DECLINED,
                                          "filters": FILTERS, "narrowed": NARROWED}))
    assert isinstance(answer.decisions.filters, FiltersRecord)
    assert isinstance(answer.decisions.declined, DeclineRecord)
    assert isinstance(answer.decisions.narrowed, NarrowedRecord)
    again = Answer.from_dict(json.loads(json.dumps(answer.to_dict())))
    assert again.decisions == answer.decisions
    assert again.decisions.no_context_reason() == \
        "filter_no_match: no note of yours matches speaker 'Ann'"
    assert Decisions.from_dict(None) == Decisions() and not Decisions().recorded()


def test_the_reasons_read_the_records_fields() -> None:
    decisions = Decisions.from_dict({"semantic": SEMANTIC, "relevance": RELEVANCE})
    assert decisions.cache_reason({"query": "miss"}) == \
        "semantic_refused: canonical ('a' is not 'b')"
    assert decisions.no_context_reason().startswith("not_found: a name the question uses")
    assert decisions.kept(no_context=False) == Decisions()  # a refused reuse is not kept
    reused = Decisions.from_dict({"semantic": {**SEMANTIC, "hit": True, "reason": "reuse"}})
    assert reused.cache_reason({"query": "semantic_hit"}) == \
        "semantic_reuse: every rule passed against 'q' (cosine 0.91)"


def test_no_part_is_an_untyped_dict() -> None:
    for f in fields(Decisions):
        assert "dict" not in str(f.type) and "Any" not in str(f.type), f.name
