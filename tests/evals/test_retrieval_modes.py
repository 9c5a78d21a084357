"""The dense / lexical / hybrid comparison: scoring, tables and the hybrid gain."""

import math

import pandas as pd
import pytest

from evals.retrieval import modes as rm


def rows(mode, scores):
    return [{"mode": mode, "id": f"q{i}", "scenario": scenario, "recall_at_5": r, "mrr": m,
             "ndcg_at_10": n} for i, (scenario, r, m, n) in enumerate(scores)]


def test_score_ranking_dedupes_notes_before_scoring():
    scores = rm.score_ranking(["a", "a", "b", "c"], ["b"])
    assert scores["mrr"] == 0.5  # b is the second note, not the third chunk
    assert scores["recall_at_5"] == 1.0
    assert math.isclose(scores["ndcg_at_10"], 1 / math.log2(3))


def test_answerable_drops_no_context_and_unreferenced_items():
    qa = pd.DataFrame({"reference_note_ids": [["a"], [], ["b"]],
                       "expect_no_context": [False, True, True]})
    assert rm.answerable(qa).index.tolist() == [0]


def test_table_and_gain_against_the_better_single_mode():
    frame = pd.DataFrame(
        rows("dense", [("factual", 1.0, 1.0, 1.0), ("metadata", 0.0, 0.0, 0.0)])
        + rows("lexical", [("factual", 1.0, 0.5, 0.6), ("metadata", 1.0, 1.0, 1.0)])
        + rows("hybrid", [("factual", 1.0, 1.0, 1.0), ("metadata", 1.0, 0.5, 0.6)])
    )
    table = rm.mode_table(frame)
    overall = table[table["scenario"] == "overall"].set_index("mode")
    assert overall.loc["dense", "ndcg_at_10"] == 0.5
    assert overall.loc["lexical", "ndcg_at_10"] == pytest.approx(0.8)
    assert overall.loc["hybrid", "n"] == 2
    metrics = rm.mode_metrics(table)
    assert metrics["modes"]["hybrid"]["metadata"]["mrr"] == 0.5
    assert metrics["hybrid_gain"]["ndcg_at_10"] == pytest.approx(0.0)
    assert metrics["hybrid_gain"]["recall_at_5"] == pytest.approx(0.0)
    assert metrics["hybrid_gain"]["mrr"] == pytest.approx(0.0)
    assert metrics["hybrid_vs_dense"]["ndcg_at_10"] == pytest.approx(0.8 - 0.5)
    assert metrics["hybrid_vs_dense"]["recall_at_5"] == pytest.approx(0.5)
    assert rm.best_single(table) == ("lexical", pytest.approx(0.8))
    wide = rm.wide(table, "mrr")
    assert wide.index.tolist() == ["overall", "factual", "metadata"]
    assert wide.loc["metadata", "lexical"] == 1.0


def test_a_worse_hybrid_has_a_negative_gain_and_one_mode_has_none():
    frame = pd.DataFrame(rows("dense", [("factual", 1.0, 1.0, 1.0)])
                         + rows("lexical", [("factual", 0.0, 0.0, 0.0)])
                         + rows("hybrid", [("factual", 1.0, 0.5, 0.5)]))
    assert rm.mode_metrics(rm.mode_table(frame))["hybrid_gain"]["mrr"] == -0.5
    only_dense = rm.mode_table(pd.DataFrame(rows("dense", [("factual", 1.0, 1.0, 1.0)])))
    assert "hybrid_gain" not in rm.mode_metrics(only_dense)


def test_empty_frame_gives_an_empty_table():
    assert rm.mode_table(pd.DataFrame()).empty


def test_split_keeps_one_part_or_says_why_it_cannot():
    qa = pd.DataFrame({"id": ["a", "b", "c"], "split": ["dev", "test", "test"]})
    part, kept = rm.select_split(qa, "test")
    assert part["id"].tolist() == ["b", "c"] and kept == "2 test items of 3"
    assert rm.select_split(qa, None)[0]["id"].tolist() == ["a", "b", "c"]
    whole, why = rm.select_split(qa.drop(columns="split"), "test")
    assert len(whole) == 3 and why.startswith("no split field")
    with pytest.raises(ValueError):
        rm.select_split(qa, "train")
