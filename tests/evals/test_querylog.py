"""The seeded synthetic query log of notebook 03 (evals.datasets.querylog): its shape, its
determinism, and what it asks of the libraries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evals.datasets import querylog as ql
from rag_core.decisions import semantic_rules
from rag_core.text.nlp import facts


def _library(name: str = "amara", n: int = 40) -> ql.Library:
    questions = tuple((f"q{i}", f"What did the sermon number {i} say about prayer?")
                      for i in range(n))
    return ql.Library(
        name=name, questions=questions,
        paraphrases={questions[0][1]: ("What was prayer's place in sermon number 0?",)},
        note_ids=(f"{name}-n1", f"{name}-n2"),
        note_fields=({"title": "Rest", "speaker": "Pastor Okafor", "tags": ["sabbath"],
                      "scripture": ["Mark 2:27"]},),
    )


LIBS = [_library("amara"), _library("ben")]


def test_zipf_weights_sum_to_one_and_fall_with_rank():
    w = ql.zipf_weights(50, 1.1)
    assert w.sum() == pytest.approx(1.0)
    assert np.all(np.diff(w) < 0)
    assert w[0] / w[1] == pytest.approx(2 ** 1.1)
    with pytest.raises(ValueError):
        ql.zipf_weights(0, 1.0)


def test_the_log_is_deterministic_for_a_seed_and_changes_with_it():
    config = ql.LogConfig(users=6, days=2, seed=3)
    assert ql.generate_log(LIBS, config) == ql.generate_log(LIBS, config)
    other = ql.generate_log(LIBS, ql.LogConfig(users=6, days=2, seed=4))
    assert other != ql.generate_log(LIBS, config)


def test_counts_times_and_users():
    config = ql.LogConfig(users=5, days=3, requests_per_user_per_day=10, edit_rate=0.0)
    events = ql.generate_log(LIBS, config)
    assert len(events) == 5 * 3 * 10
    assert [e.t for e in events] == sorted(e.t for e in events)
    assert all(0 <= e.t < 3 * ql.DAY_S for e in events)
    frame = ql.to_frame(events)
    assert frame.groupby("user").size().eq(30).all()
    assert set(frame["library"]) == {"amara", "ben"}
    per_day = frame.assign(day=frame["t"] // ql.DAY_S).groupby(["user", "day"]).size()
    assert per_day.eq(10).all()


def test_shares_of_paraphrase_and_novel_are_within_tolerance():
    config = ql.LogConfig(users=40, days=5, paraphrase_share=0.2, novel_share=0.1, seed=1)
    shares = ql.kind_shares(ql.generate_log(LIBS, config))
    assert shares["paraphrase"] == pytest.approx(0.2, abs=0.03)
    assert shares["novel"] == pytest.approx(0.1, abs=0.03)
    assert shares["repeat"] == pytest.approx(0.7, abs=0.04)


def test_the_top_question_takes_a_zipf_share():
    config = ql.LogConfig(users=40, days=5, zipf_s=1.2, novel_share=0.0, seed=2)
    pool = int(round(config.pool_share * 40))
    expected = ql.zipf_weights(pool, 1.2)[0]
    assert ql.top_share(ql.generate_log(LIBS, config)) == pytest.approx(expected, abs=0.05)
    flat = ql.LogConfig(users=40, days=5, zipf_s=0.0, novel_share=0.0, seed=2)
    assert ql.top_share(ql.generate_log(LIBS, flat)) < expected / 2


def test_novel_questions_are_never_repeats_and_paraphrases_differ():
    events = ql.generate_log(LIBS, ql.LogConfig(users=4, days=4, novel_share=0.3, seed=5))
    for user in {e.user for e in events}:
        novel = [e.text for e in events if e.user == user and e.kind == "novel"]
        assert len(novel) == len(set(novel))
    paraphrases = [e for e in events if e.kind == "paraphrase"]
    assert paraphrases
    questions = dict(LIBS[0].questions)
    for e in paraphrases:
        assert e.text != questions[e.source]


def test_own_rewordings_keep_the_facts_the_semantic_rules_compare():
    rng = np.random.default_rng(0)
    for question in ("What did Pastor Okafor say about the sermon on Mark 2?",
                     "How many years did Mateo not talk to his sister?",
                     "Who told the story of the lighthouse in 2019?"):
        for _ in range(10):
            text = ql.reword(question, rng)
            assert text != question
            checks = semantic_rules.fact_checks(facts(question), facts(text), True,
                                                semantic_rules.Evidence(),
                                                semantic_rules.Evidence())
            assert all(c.passed for c in checks), (text, checks)


def test_edits_name_a_note_of_the_users_library():
    events = ql.generate_log(LIBS, ql.LogConfig(users=4, days=10, edit_rate=0.5, seed=9))
    edits = [e for e in events if e.kind == "edit"]
    assert 8 <= len(edits) <= 40  # Poisson, mean 20
    assert all(e.source.startswith(e.library + "-") for e in edits)


def test_libraries_from_golden_add_labelled_paraphrases():
    qa = pd.DataFrame([
        {"id": "q1", "user_id": "amara", "question": "Who?", "scenario": "factual"},
        {"id": "q2", "user_id": "amara", "question": "Hack", "scenario": "adversarial"},
    ])
    notes = pd.DataFrame([{"id": "amara-1", "user_id": "amara", "title": "T", "speaker": "S",
                           "tags": ["x"], "scripture": []}])
    pairs = [{"id": "p1", "user_id": "amara", "a": "Why?", "b": "For what reason?",
              "label": "paraphrase"},
             {"id": "p2", "user_id": "amara", "a": "When?", "b": "Where?", "label": "near_miss"}]
    (lib,) = ql.libraries_from_golden(qa, notes, pairs)
    assert [q for _, q in lib.questions] == ["Who?", "Why?"]
    assert lib.paraphrases == {"Why?": ("For what reason?",)}
    assert lib.note_ids == ("amara-1",)
    assert "Who preached 'T'?" in ql.novel_candidates(lib)


def test_config_is_checked():
    with pytest.raises(ValueError):
        ql.LogConfig(paraphrase_share=0.7, novel_share=0.5)
    with pytest.raises(ValueError):
        ql.LogConfig(users=0)


# --- arithmetic ------------------------------------------------------------------------------
