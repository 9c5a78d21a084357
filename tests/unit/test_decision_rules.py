"""The facts the decisions compare (spaCy, pythonbible) and each rule on its own, no services."""

from __future__ import annotations

import pytest

from rag_core import nlp
from rag_core.cache import semantic_rules as sr
from rag_core.relevance import RelevancePolicy, decide_relevance
from rag_core.types import Chunk


def test_facts_of_a_question() -> None:
    f = nlp.facts("How old was Pastor Okafor when she ran the Chicago Marathon in 2019?")
    assert f.answer_type == "age"
    assert {"okafor", "chicago", "marathon"} <= f.names and "pastor" not in f.names
    assert "2019" in f.dates and f.has_time
    ref = nlp.facts("What did Holloway say about Genesis 45:4-8?")
    assert ref.scripture == {"GENESIS 45:4-45:8"} and not ref.numbers and "genesis" not in ref.names
    assert nlp.facts("Why did she not forgive him?").negations == 1


@pytest.mark.parametrize(("question", "kind"), [
    ("Who preached on Ruth?", "person"), ("When did the series start?", "time"),
    ("Where did the story happen?", "place"), ("Why did he stop?", "reason"),
    ("How many loaves were baked?", "count"), ("How much did they raise?", "amount"),
    ("How old was Abraham when he left Haran?", "age"), ("How long did it last?", "duration"),
    ("Did the choir sing?", "yes_no"), ("What year was it?", "time"),
    ("At which ferry terminal did they meet?", "typed"), ("What did she say?", "thing"),
    ("When Peter came to Joppa, what did the widows hold up?", "thing"),
])
def test_answer_types(question: str, kind: str) -> None:
    assert nlp.facts(question).answer_type == kind


EV = sr.Evidence(("n1:0:h", "n1:1:h"), ("n1", "n1"), ("The lamp was green and the door blue.",))


@pytest.mark.parametrize(("cached", "new", "rule"), [
    ("What did Okafor say about prayer in 2023?", "What did Okafor say about prayer in 2024?",
     "dates"),
    ("Why should we forgive?", "Why shouldn't we forgive?", "negation"),
    ("What did Okafor say about prayer?", "What did Brannigan say about prayer?", "names"),
    ("What does Hebrews 11 say?", "What does Hebrews 12 say?", "scripture"),
    ("What was the first point?", "What was the last point?", "sequence"),
    ("Did they bake 200 loaves?", "Did they bake 300 loaves?", "numbers"),
    ("When did the lamp burn?", "Why did the lamp burn?", "answer_type"),
    ("What colour was the lamp?", "What colour was the door?", "detail"),
])
def test_each_rule_refuses_with_its_reason(cached: str, new: str, rule: str) -> None:
    d = sr.decide(new, cached, 0.95, sr.Policy(), EV, EV)
    assert not d.hit and d.reason == rule, d.to_dict()
    assert d.to_dict()["checks"][rule]["passed"] is False


def test_a_paraphrase_passes_every_rule_and_the_threshold_still_counts() -> None:
    a, b = "How old was Abraham when he left Haran?", "At what age did Abraham set out from Haran?"
    assert sr.decide(b, a, 0.90, sr.Policy(), EV, EV).hit
    low = sr.decide(b, a, 0.30, sr.Policy(threshold=0.45), EV, EV)
    assert not low.hit and low.reason == "similarity"


def test_evidence_modes() -> None:
    other = sr.Evidence(("n2:0:h",), ("n2",), ("",))
    same_note = sr.Evidence(("n1:1:h", "n1:0:h"), ("n1", "n1"), ("",))
    assert not sr.evidence_check("note", other, EV).passed
    assert sr.evidence_check("note", same_note, EV).passed
    assert not sr.evidence_check("chunk", same_note, EV).passed
    assert not sr.evidence_check("note", sr.Evidence(), EV).passed


def _chunk(text: str, score: float, **meta: object) -> Chunk:
    return Chunk(chunk_id="c", note_id="n", user_id="u", ordinal=0, text=text, score=score,
                 metadata=dict(meta))


def test_relevance_rules() -> None:
    chunks = [_chunk("Abraham was seventy-five when he left Haran.", 0.55, title="Faith",
                     speaker="Pastor Miriam Okafor")]
    assert decide_relevance("How old was Abraham when he left Haran?", chunks).answer
    named = decide_relevance("What did Okafor say about Nehemiah?", chunks)
    assert not named.answer and named.reason == "names" and "nehemiah" in str(named.checks)
    low = decide_relevance("How old was Abraham?", [_chunk("x", 0.1)])
    assert not low.answer and low.reason == "similarity"
    assert decide_relevance("anything", []).reason == "retrieved"
    weak = [_chunk("Abraham left Haran.", 0.40)]
    uncovered = decide_relevance("What about the boat and the storm and the nets?", weak)
    assert not uncovered.answer and uncovered.reason == "coverage"
    confident = decide_relevance("What about the boat and the storm and the nets?",
                                 [_chunk("Abraham left Haran.", 0.60)])
    assert confident.answer
    off = RelevancePolicy(names=False, coverage=False)
    assert decide_relevance("What did Okafor say about Nehemiah?", chunks, policy=off).answer
