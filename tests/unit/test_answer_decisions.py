"""The typed decisions of an answer keep the JSON of ``ask --json`` and of the API exactly: the
parts a request reached, as the dict it replaced, read back from a cached answer the same."""

from __future__ import annotations

import json

from rag_core.types import Answer, Decisions, TokenUsage

SEMANTIC = {"hit": False, "reason": "canonical", "similarity": 0.91, "matched_query": "q",
            "checks": {"canonical": {"passed": False, "detail": "'a' is not 'b'"}}}
RELEVANCE = {"answer": False, "reason": "names",
             "checks": {"names": {"passed": False, "detail": "in none of your notes: ['x']"}}}
FIELDS = ["answer", "citations", "no_context", "generator", "cache", "usage", "cost_usd",
          "timings_ms", "request_id", "stale", "query_truncated", "flags", "retrieved",
          "budget_state", "decisions", "answer_id", "question", "no_context_reason", "model"]


def _answer(decisions: Decisions) -> Answer:
    return Answer(answer="a", citations=[], no_context=True, generator="none",
                  cache={"query": "miss"}, usage=TokenUsage(), cost_usd=0.0, timings_ms={},
                  request_id="r", decisions=decisions)


def test_the_json_holds_the_parts_reached_as_the_dict_did() -> None:
    data = _answer(Decisions(semantic=SEMANTIC, relevance=RELEVANCE)).to_dict()
    assert list(data) == FIELDS
    assert data["decisions"] == {"semantic": SEMANTIC, "relevance": RELEVANCE}
    assert json.loads(json.dumps(data))["decisions"] == {"semantic": SEMANTIC,
                                                         "relevance": RELEVANCE}
    assert _answer(Decisions()).to_dict()["decisions"] == {}


def test_a_cached_answer_reads_back_the_same_decisions_and_reasons() -> None:
    answer = _answer(Decisions(relevance=RELEVANCE, declined={"by": "mock"}))
    again = Answer.from_dict(json.loads(json.dumps(answer.to_dict())))
    assert again.decisions == answer.decisions and again.decisions.relevance == RELEVANCE
    assert again.decisions.no_context_reason().startswith("not_found: a name")
    assert Decisions.from_dict(None) == {} and not Decisions()


def test_the_record_reads_like_the_mapping_it_replaced() -> None:
    decisions = Decisions(semantic=SEMANTIC)
    assert decisions["semantic"] == SEMANTIC and "relevance" not in decisions
    assert decisions.get("relevance") is None and dict(decisions) == {"semantic": SEMANTIC}
    assert decisions.cache_reason({"query": "miss"}).startswith("semantic_refused: canonical")
    assert decisions.kept(no_context=True) == {}  # a refused reuse is not kept
