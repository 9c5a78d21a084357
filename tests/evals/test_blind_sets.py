"""``evals.decisions.blind_sets``: the no-context decision on labelled sets, counted per set and by
kind of unanswerable question, on the real pipeline (embedded PostgreSQL, Redis, the local
embedding model)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evals.decisions import blind_sets, decisions_eval
from evals.gates import evaluate, load_gates
from evals.quality import evaluate as quality

NOTE = """---
id: {id}
title: "{title}"
date: 2025-03-04
speaker: "Marta Quist"
series: "Bakery log"
tags: [baking]
---

{body}
"""

QUESTIONS = [
    ("q1", "How long does the rye loaf prove?", ["b1"], False, None),
    ("q2", "what temperature for the rye bake", ["b1"], False, None),
    ("q3", "What did Hendrik Vos bake for the fair?", [], True, "missing_fact"),
    ("q4", "How many rye loaves were sold in 1987?", [], True, "missing_fact"),
    ("q5", "How do I descale the espresso machine?", [], True, "not_covered"),
]


def write_set(root: Path) -> None:
    notes = root / "notes" / "marta"
    notes.mkdir(parents=True)
    (notes / "b1.md").write_text(NOTE.format(
        id="b1", title="Rye loaf",
        body="The rye loaf proves for three hours in the cold room, then bakes at 230 C for "
             "forty minutes. Marta Quist sold sixty loaves at the spring fair."))
    (notes / "b2.md").write_text(NOTE.format(
        id="b2", title="Starter",
        body="The starter is fed twice a day with equal weights of flour and water."))
    rows = [{"id": i, "user_id": "marta", "question": q, "reference_note_ids": refs,
             "reference_answer": "", "expect_no_context": nc, "scenario":
             "no_context" if nc else "factual", **({"kind": kind} if kind else {})}
            for i, q, refs, nc, kind in QUESTIONS]
    (root / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = [("p1", "How long does the rye loaf prove?",
              "how long does the rye loaf prove", "paraphrase"),
             ("n1", "How long does the rye loaf prove?",
              "How long does the rye loaf bake?", "near_miss")]
    (root / "semantic_pairs.jsonl").write_text("".join(
        json.dumps({"id": i, "user_id": "marta", "a": a, "b": b, "label": label}) + "\n"
        for i, a, b, label in pairs))


def test_the_metrics_count_refusals_over_every_set_and_keep_the_lowest_accuracy() -> None:
    table = pd.DataFrame([
        {"set": "a", "answerable": 40, "refused": 1, "unanswerable": 18,
         "no_context_accuracy": 9 / 18},
        {"set": "b", "answerable": 25, "refused": 0, "unanswerable": 15,
         "no_context_accuracy": 6 / 15}])
    figures = blind_sets.metrics(table)
    assert figures["answerable_refused"] == 1 and figures["min_no_context_accuracy"] == 0.4
    assert figures["no_context_refused"] == 15 and figures["sets_under_half"] == 1
    assert figures["a"] == {"wrong_no_context_rate": 1 / 40, "no_context_accuracy": 0.5}
    assert blind_sets.names()  # the shipped sets are found
    # a run without them (own data, smoke) records None: their gates skip, never fail
    skipped = blind_sets.metrics(None)
    assert skipped == dict.fromkeys(
        ("answerable_refused", "no_context_refused", "sets_under_half", "min_no_context_accuracy"))
    gates = [g for g in load_gates() if g.name.startswith("quality.blind_sets.")]
    results = evaluate(gates, {f"quality.blind_sets.{k}": v for k, v in skipped.items()},
                       ran=["quality"])
    assert len(results) == 3 and {r.status for r in results} == {"skipped"}


def test_the_pair_metrics_sum_the_default_modes_counts_over_the_sets_asked() -> None:
    modes = pd.DataFrame([
        {"set": "a", "mode": "strict", "reuse": 0.1, "paraphrases": 10, "false_hits": 0,
         "near_misses": 10},
        {"set": "b", "mode": "strict", "reuse": 0.0, "paraphrases": 10, "false_hits": 1,
         "near_misses": 10},
        {"set": "b", "mode": "loose", "reuse": 0.5, "paraphrases": 10, "false_hits": 3,
         "near_misses": 10},
        {"set": "golden_test", "mode": "strict", "reuse": 0.2, "paraphrases": 54,
         "false_hits": 2, "near_misses": 54}])
    assert blind_sets.pair_metrics(modes, ["a", "b"]) == {"blind_sets": {
        "semantic_false_hits": 1, "semantic_reused": 1, "near_misses": 20}}
    assert blind_sets.pair_metrics(modes, [])["blind_sets"]["semantic_false_hits"] is None


@pytest.mark.integration
def test_each_set_is_decided_on_its_own_users_notes(tmp_path: Path, database_url: str,
                                                    redis_server, short_tmp: Path) -> None:
    write_set(tmp_path / "bakery")
    rows = {}
    for floor in (0.0, 0.3):  # the pipeline's own floor decides
        settings = quality.eval_settings(database_url=database_url, redis_url=redis_server.url,
                                         state_dir=short_tmp / "blind-state",
                                         similarity_threshold=floor)
        pipeline = quality.build_pipeline(settings)
        try:
            rows[floor] = blind_sets.measure(pipeline, root=tmp_path).set_index("set").loc[
                "bakery"]
            pairs = blind_sets.pair_rows(pipeline, root=tmp_path)
        finally:
            pipeline.parts.close()
    # strict reuses the same words only; the near miss asks another step
    modes = decisions_eval.mode_table(pairs, decisions_eval.mode_policies(settings))
    assert [len(pairs["bakery"]), pairs["bakery"][0].a.note_ids[0]] == [2, "b1"]
    assert blind_sets.pair_metrics(modes, pairs) == {"blind_sets": {
        "semantic_false_hits": 0, "semantic_reused": 1, "near_misses": 1}}
    for row in rows.values():
        assert (row["answerable"], row["refused"], row["unanswerable"]) == (2, 0, 3)
        # a name and a year the notes lack are refused at any floor
        assert row["refused: missing_fact"] == "2 of 2"
    # the topic they never cover names no fact to find absent: only the floor refuses it
    # (the espresso question's best cosine is about 0.16)
    assert rows[0.0]["refused: not_covered"] == "0 of 1"
    assert rows[0.3]["refused: not_covered"] == "1 of 1"
    assert (rows[0.0]["no_context_accuracy"], rows[0.3]["no_context_accuracy"]) == (2 / 3, 1.0)
