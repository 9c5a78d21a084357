import math

import pytest

from evals.metrics.retrieval import (
    ndcg_at_k,
    notes_in_rank_order,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
    retrieval_scores,
)


def test_chunks_are_deduplicated_to_notes_in_rank_order():
    retrieved = [{"note_id": "a-1"}, {"note_id": "a-2"}, {"note_id": "a-1"}, "a-3", "a-2"]
    assert notes_in_rank_order(retrieved) == ["a-1", "a-2", "a-3"]


def test_recall_counts_each_reference_once():
    ranked = ["x", "a", "b"]
    assert recall_at_k(ranked, ["a", "b"], 2) == 0.5
    assert recall_at_k(ranked, ["a", "b"], 3) == 1.0
    assert recall_at_k(ranked, ["a", "a"], 5) == 1.0


def test_duplicate_chunks_do_not_push_a_reference_out_of_the_top_k():
    retrieved = [{"note_id": "x"}, {"note_id": "x"}, {"note_id": "x"}, {"note_id": "a"}]
    scores = retrieval_scores(retrieved, ["a"])
    assert scores["recall_at_1"] == 0.0
    assert scores["recall_at_3"] == 1.0  # notes: x, a
    assert scores["mrr"] == 0.5


def test_no_references_means_not_applicable():
    assert recall_at_k(["a"], [], 5) is None
    assert precision_at_k(["a"], [], 5) is None
    assert reciprocal_rank(["a"], []) is None
    assert ndcg_at_k(["a"], [], 10) is None
    assert set(retrieval_scores([{"note_id": "a"}], []).values()) == {None}


def test_nothing_retrieved_scores_zero():
    scores = retrieval_scores([], ["a"])
    assert scores == {"recall_at_1": 0.0, "recall_at_3": 0.0, "recall_at_5": 0.0,
                      "precision_at_5": 0.0, "mrr": 0.0, "ndcg_at_10": 0.0}


def test_precision_divides_by_k_not_by_list_length():
    assert precision_at_k(["a"], ["a"], 5) == pytest.approx(0.2)
    assert precision_at_k(["a", "b", "c"], ["a", "c"], 2) == pytest.approx(0.5)


def test_reciprocal_rank_of_first_relevant():
    assert reciprocal_rank(["x", "y", "a", "b"], ["b", "a"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], ["a"]) == 0.0


def test_ndcg_perfect_partial_and_ideal_cut_at_k():
    assert ndcg_at_k(["a", "b", "x"], ["a", "b"]) == pytest.approx(1.0)
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["x", "a"], ["a", "b"]) == pytest.approx(expected)
    # 12 relevant notes: the ideal only counts the first k positions
    many = [f"n{i}" for i in range(12)]
    assert ndcg_at_k(many, many, 10) == pytest.approx(1.0)


def test_k_must_be_positive():
    with pytest.raises(ValueError):
        recall_at_k(["a"], ["a"], 0)
