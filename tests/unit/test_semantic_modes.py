"""The semantic cache's modes, the word-by-word rules (strict before the canonical form, now a
design of ``evals.decisions.designs``), ``cache.reason`` and the measuring helpers (no services:
spaCy only)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from evals.datasets import external
from evals.decisions.coverage_rules import slip
from evals.decisions.designs import rules_policy
from evals.decisions.question_roles import parts
from evals.decisions.rule_sets import RuleSet, Similar, decide
from rag_core.cache.layers import layers_for
from rag_core.cache.semantic import judge_for, policy_for
from rag_core.config import Settings
from rag_core.decision_records import Decisions
from rag_core.decisions import semantic_rules as sr
from rag_core.decisions.semantic_canonical import Check
from rag_core.decisions.semantic_rules import misspelt

NOTE = sr.Evidence(chunk_ids=("n1:0",), note_ids=("n1",),
                   texts=("Every Friday the baker Odile gives away sixty loaves at the quay. "
                          "Aunt Wren kept an extra plate at her table for whoever came.",))


def strict_decision(cached: str, new: str, similar: Similar | None = None) -> sr.Decision:
    return decide(new, cached, 0.9, rules_policy(Settings()), NOTE, NOTE, similar)


def test_strict_is_the_default_and_off_or_disabled_turn_the_layer_off() -> None:
    assert Settings().decisions.semantic_mode == "strict"
    for settings, enabled in ((Settings(), True), (Settings(semantic_mode="off"), False),
                              (Settings(semantic_cache_enabled=False), False)):
        layers = layers_for(settings, None, judge=judge_for(settings))
        assert layers.answers.semantic_enabled is enabled
    assert policy_for(Settings(), "strict").canonical == "only"
    assert policy_for(Settings(), "loose").canonical == "first"
    assert type(policy_for(Settings(), "loose")) is sr.Policy  # no rules of evals/


def test_strict_reuses_a_reordered_question() -> None:
    d = strict_decision("How many loaves does Odile give away every Friday?",
                        "Every Friday, how many loaves does Odile give away?")
    assert d.hit and d.reason == "reuse"


@pytest.mark.parametrize(("cached", "new", "rule"), [
    # the donor asked for more than the new question: its answer is about the plate
    ("Who ate at Aunt Wren's extra plate?", "Who was Aunt Wren?", "coverage"),
    ("What did Odile do for a living?", "Where did Odile live?", "focus"),
    ("According to the baker, what is joy?", "According to the baker, what is joy not?",
     "negation"),
])
def test_strict_refuses_with_the_rule_that_saw_the_difference(cached: str, new: str,
                                                             rule: str) -> None:
    d = strict_decision(cached, new)
    assert not d.hit and rule in [c.rule for c in d.checks if not c.passed]


def _close(words: object, candidates: object) -> dict[str, tuple[float, str]]:
    return {"wharf": (0.9, "quay"), "quay": (0.9, "wharf"), "red": (0.68, "yellow"),
            "yellow": (0.68, "red")}


def test_near_words_come_from_the_similarity_given() -> None:
    cached, new = "What did Odile sell at the quay?", "At the wharf, what did Odile sell?"
    assert not strict_decision(cached, new).hit
    d = strict_decision(cached, new, _close)
    assert d.hit and "wharf~quay" in dict((c.rule, c.detail) for c in d.checks)["coverage"]


def test_a_rule_set_of_evals_replaces_adds_and_skips_rules_but_not_a_canonical_match() -> None:
    """``rule_sets.decide``: an extra check named like a service rule takes its place, any other
    is added, one named in ``skip`` is left out; a canonical match decides alone."""
    def extra(*_: object) -> list[Check]:
        return [Check("names", False, "replaced"), Check("added", False, "added"),
                Check("detail", False, "skipped")]

    loose = policy_for(Settings(), "loose")
    cached, new = "What did Odile sell at the quay?", "What did Odile sell at the market?"
    d = decide(new, cached, 0.9, RuleSet.of(replace(loose, canonical="off"), extra,
                                            frozenset({"detail"})), NOTE, NOTE)
    rules = [c.rule for c in d.checks]
    assert [c.rule for c in d.checks if not c.passed] == ["names", "added"]
    assert rules.count("names") == 1
    assert "detail" not in rules and d.reason == "names"
    same = decide(cached.lower(), cached, 0.9, RuleSet.of(loose, extra, frozenset()), NOTE, NOTE)
    assert same.hit and [c.rule for c in same.checks] == ["canonical"]


@pytest.mark.parametrize(("cached", "new"), [
    ("What does a yellow peg mean on Odile's table?", "What does a red peg mean on Odile's table?"),
    ("What did Odile sell at the quay?", "What did Odile sell at the wharf?"),
])
def test_a_near_word_in_the_same_slot_is_a_swap_not_a_synonym(cached: str, new: str) -> None:
    """Word vectors put other members of a kind near each other (colours at 0.68): one word
    for another in the same place of two questions worded alike is the near miss's pattern,
    so there a near word never covers; the team's own example set met it as a false hit."""
    d = strict_decision(cached, new, _close)
    assert not d.hit and d.reason == "coverage"


def test_misspelt_words_are_one_slip_apart_in_long_words_only() -> None:
    assert misspelt("kessler", "kesler") and misspelt("appeal", "apeal")
    assert not misspelt("amira", "samir") and not misspelt("hail", "hial")


def test_a_slip_is_one_keystroke_in_a_word_of_four_letters_or_more() -> None:
    assert slip("hial", "hail") and slip("hom", "home") and slip("grnat", "grant")
    assert not slip("cat", "cut") and not slip("hail", "mail") and not slip("home", "homely")
    d = strict_decision("What did Odile say when she came home?",
                        "What did Odile say when she came hom?")
    assert d.hit, d.to_dict()


def test_the_words_that_name_the_kind_of_answer_are_left_to_the_focus() -> None:
    assert {"what", "year"} <= parts("In what year did Odile open the bakery?").asked
    assert "loaf" not in parts("How many loaves does Odile bake?").asked
    assert parts("What was the library book's fine?").about == "fine"
    assert parts("Who did Odile serve first?").about == "serve"
    d = strict_decision("In what year did Odile open the bakery?",
                        "When did Odile open the bakery?")
    assert d.hit, d.to_dict()


@pytest.mark.parametrize(("cached", "new", "hit", "rule"), [
    # a detail added on one side that the other question's evidence holds is context
    ("How many loaves does Odile give away?",
     "How many loaves does Odile give away at the quay every Friday?", True, ""),
    ("How many loaves does Odile give away at the quay every Friday?",
     "How many loaves does Odile give away?", True, ""),
    # words on both sides that the other lacks are a swap, in the evidence or not
    ("How many loaves does Odile give away at the quay?",
     "How many loaves does Odile keep at the table?", False, "coverage"),
    # an added year the evidence does not hold, an added order word
    ("How many loaves does Odile give away?", "How many loaves did Odile give away in 2019?",
     False, "dates"),
    ("Who did Odile serve at the quay?", "Who did Odile serve first at the quay?", False,
     "sequence"),
    # what the question asks about is never context, nor who does it; the subject of a
    # clause that only sets the scene is
    ("What did Odile give away at the quay?", "What plate did Odile give away at the quay?",
     False, "coverage"),
    ("How many loaves does the baker give away at the quay?",
     "How many loaves are given away at the quay?", False, "coverage"),
    ("How many loaves does Odile give away after the baker comes to the quay?",
     "How many loaves does Odile give away?", True, ""),
])
def test_additions_are_context_only_when_the_other_evidence_holds_them(
        cached: str, new: str, hit: bool, rule: str) -> None:
    d = strict_decision(cached, new)
    assert d.hit is hit, d.to_dict()
    assert hit or rule in [c.rule for c in d.checks if not c.passed]


def cache_reason(cache: dict[str, str], decisions: dict[str, object]) -> str:
    """The reason of an answer whose decisions' JSON is ``decisions``."""
    return Decisions.from_dict(decisions).cache_reason(cache)


def test_cache_reason_names_the_outcome() -> None:
    refused = {"hit": False, "reason": "coverage",
               "checks": {"coverage": {"passed": False, "detail": "new ['plate']"}}}
    assert cache_reason({"query": "miss", "semantic": "miss"}, {"semantic": refused}) \
        .startswith("semantic_refused: coverage")
    assert cache_reason({"query": "miss", "semantic": "off"}, {}).startswith("semantic_off")
    hit = {"hit": True, "reason": "reuse", "matched_query": "q", "similarity": 0.9}
    assert cache_reason({"query": "semantic_hit"}, {"semantic": hit}).startswith(
        "semantic_reuse")
    assert cache_reason({"query": "hit"}, {}).startswith("exact_hit")
    assert cache_reason({"query": "miss", "semantic": "miss"},
                        {"semantic": {"hit": False, "reason": "no_candidate"}}
                        ).startswith("no_candidate")


def test_the_external_set_loads_in_the_golden_shapes(tmp_path: Path) -> None:
    assert not external.available(tmp_path)
    (tmp_path / "notes" / "u1").mkdir(parents=True)
    pair = {"id": "p1", "user_id": "u1", "a": "Who?", "b": "Who then?", "label": "paraphrase",
            "kind": "shorter", "answer_a": "x", "answer_b": "x", "note_ids": ["u1-001"]}
    qa: dict[str, object] = {"id": "q1", "user_id": "u1", "question": "Who?", "relevant_notes": [],
          "answer": None, "kind": "absent_topic", "expect_no_context": True}
    (tmp_path / "semantic_pairs.jsonl").write_text(json.dumps(pair) + "\n")
    (tmp_path / "qa.jsonl").write_text(json.dumps(qa) + "\n")
    assert external.available(tmp_path) and external.users(tmp_path) == ["u1"]
    [loaded] = external.load_semantic_pairs(tmp_path)
    assert loaded["split"] == "external" and "answer_a" not in loaded
    frame = external.load_qa(tmp_path)
    assert frame.loc[0, "reference_note_ids"] == [] and bool(frame.loc[0, "expect_no_context"])


@pytest.mark.parametrize("mode", ["strict", "loose"])
def test_the_default_judge_reads_the_model_words_when_first_asked(mode: str) -> None:
    """``judge_for``'s judge builds its mode's policy (and reads the model's vocabulary) on
    the first decision or policy read, and decides as the rules of ``policy_for`` do."""
    from rag_core.decisions.judges import RulesJudge

    settings = Settings(semantic_mode=mode)
    judge = judge_for(settings)
    assert "rules" not in vars(judge)
    rules = RulesJudge(policy_for(settings))
    for cached, new in (("Who baked the bread?", "Who baked the bread?"),
                        ("Who baked the bread?", "Who bakd the bread?"),
                        ("Who baked the bread?", "Who ate the bread?")):
        assert judge.decide(new, cached, 0.95, NOTE, NOTE) == \
            rules.decide(new, cached, 0.95, NOTE, NOTE)
    assert judge.policy == rules.policy and "rules" in vars(judge)
