"""The pure parts of the embedder quality check: loading, ranking, graded nDCG, the table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evals.retrieval.embed_quality import (
    TOLERANCE,
    RankingSet,
    load_beir,
    mean_ndcg,
    ndcg_at_k,
    quality_table,
    runtime_metrics,
    runtime_quality,
    top_k,
)


def test_ndcg_graded_and_bounds() -> None:
    gains = {"a": 2, "b": 1}
    assert ndcg_at_k(["a", "b", "c"], gains) == pytest.approx(1.0)
    swapped = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(["b", "a"], gains) == pytest.approx(swapped)
    assert ndcg_at_k(["x", "y"], gains) == 0.0
    assert ndcg_at_k(["a"], {}) == 0.0
    # only the first k count
    assert ndcg_at_k(["x", "a"], {"a": 1}, k=1) == 0.0


def test_top_k_is_exact_cosine_order() -> None:
    rng = np.random.default_rng(3)
    docs = rng.normal(size=(50, 8)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[[7, 19]] + 0.01
    ranked = top_k(queries, docs, 5)
    assert ranked.shape == (2, 5) and list(ranked[:, 0]) == [7, 19]
    full = np.argsort(-(queries @ docs.T), axis=1)[:, :5]
    assert np.array_equal(ranked, full)
    assert top_k(queries, docs[:3], 10).shape == (2, 3)


def _tiny() -> RankingSet:
    return RankingSet(doc_ids=["d0", "d1", "d2"], doc_texts=["x", "y", "z"],
                   query_ids=["q0", "q1"], query_texts=["qx", "qy"],
                   qrels={"q0": {"d0": 1}, "q1": {"d1": 2}})


def test_quality_table_deltas_against_the_reference() -> None:
    data = _tiny()
    docs = np.eye(3, dtype=np.float32)
    good_q = np.eye(3, dtype=np.float32)[:2]
    bad_q = np.eye(3, dtype=np.float32)[[2, 0]]  # both queries rank a wrong doc first
    assert mean_ndcg(data, good_q, docs) == pytest.approx(1.0)
    table = quality_table(data, {"torch": (docs, good_q, 1.0), "other": (docs, bad_q, 0.5)})
    rows = table.set_index("backend")
    assert rows.loc["torch", "delta"] == 0.0 and bool(rows.loc["torch", "within_tolerance"])
    assert rows.loc["other", "delta"] < -0.3 and not bool(rows.loc["other", "within_tolerance"])
    assert rows.loc["other", "query_cosine_min"] == 0.0
    assert rows.loc["other", "docs_per_s"] == 6.0


def test_load_beir_keeps_judged_queries_and_titles(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        json.dumps({"_id": "d1", "title": "T", "text": "body"}) + "\n"
        + json.dumps({"_id": "d2", "text": "plain"}) + "\n")
    (tmp_path / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "judged"}) + "\n"
        + json.dumps({"_id": "q2", "text": "unjudged"}) + "\n")
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td2\t0\n")
    data = load_beir(tmp_path)
    assert data.doc_texts == ["T\n\nbody", "plain"]
    assert data.query_ids == ["q1"] and data.qrels == {"q1": {"d1": 2}}


def _write_set(folder: Path) -> None:
    """Three documents, two judged queries; each query's words are its document's."""
    (folder / "qrels").mkdir(parents=True)
    docs = {"d0": "apple orchard harvest", "d1": "river boat crossing", "d2": "mountain snow"}
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in docs.items()))
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q0", "text": "apple harvest"}) + "\n"
        + json.dumps({"_id": "q1", "text": "boat on the river"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\n")


VOCAB = ("apple", "orchard", "harvest", "river", "boat", "crossing", "mountain", "snow")


def _bag_of_words(texts: list[str]) -> np.ndarray:
    vecs = np.array([[float(w in t.split()) for w in VOCAB] for t in texts], dtype=np.float32)
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)


def _first_word_only(texts: list[str]) -> np.ndarray:
    """A worse 'runtime': only the first word of each text counts, so q1 ('boat on the
    river') no longer meets d1 ('river boat crossing') first."""
    return _bag_of_words([t.split()[0] if t.split() else t for t in texts])


def test_runtime_quality_scores_each_set_and_backend_against_torch(tmp_path: Path) -> None:
    _write_set(tmp_path / "tiny")
    table, metrics, skipped = runtime_quality(
        ["tiny", "absent"], {"torch": _bag_of_words, "same": _bag_of_words,
                             "worse": _first_word_only}, data_dir=tmp_path)
    assert list(table["set"].unique()) == ["tiny"] and "absent" in skipped
    rows = table.set_index("backend")
    assert rows.loc["torch", "ndcg_at_10"] == pytest.approx(1.0)
    assert rows.loc["same", "delta"] == 0.0
    assert rows.loc["worse", "delta"] < -TOLERANCE
    tiny = metrics["tiny"]
    assert isinstance(tiny, dict) and tiny["same"] == {"ndcg_at_10": 1.0, "delta": 0.0}
    assert metrics["same"] == {"max_abs_delta_ndcg_at_10": 0.0}
    worse = metrics["worse"]
    assert isinstance(worse, dict) and worse["max_abs_delta_ndcg_at_10"] > TOLERANCE


def test_runtime_metrics_take_the_largest_delta_over_sets() -> None:
    table = pd.DataFrame([
        {"set": "a", "backend": "onnx", "ndcg_at_10": 0.5, "delta": 0.001},
        {"set": "b", "backend": "onnx", "ndcg_at_10": 0.4, "delta": -0.004},
    ])
    metrics = runtime_metrics(table)
    assert metrics["onnx"] == {"max_abs_delta_ndcg_at_10": 0.004}
    assert runtime_metrics(pd.DataFrame()) == {}
