"""The BEIR loader, scoring and runner on small sets written here (no public data needed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evals.datasets import beir
from evals.metrics.retrieval import graded_ndcg_at_k
from evals.retrieval import beir_run
from rag_core.store.base import SearchParams

DOCS = {
    "d1": ("Tides", "The moon pulls the oceans and makes the tides rise and fall."),
    "d2": ("Bread", "Yeast makes bread dough rise before it is baked in the oven."),
    "d3": ("Bees", "Honey bees dance to tell the hive where the flowers are."),
    "d4": ("Rust", "Iron left in wet air slowly turns to red rust."),
    "d5": ("Volcano", "Molten rock rises through the crust and erupts as lava."),
    "d6": ("Snow", "Snowflakes form when water vapour freezes around dust in clouds."),
}
QUERIES = {"q1": "why do ocean tides rise", "q2": "how do bees tell the hive about flowers",
           "q3": "what makes bread dough rise", "q9": "not judged in this split"}
QRELS = [("q1", "d1", 2), ("q2", "d3", 1), ("q3", "d2", 1), ("q3", "d5", 0)]


def write_set(folder: Path, split: str = "test") -> Path:
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as fh:
        for doc_id, (title, text) in DOCS.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as fh:
        for qid, text in QUERIES.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    rows = "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS)
    (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return folder


def test_load_keeps_the_judged_queries_and_refuses_held_out_sets(tmp_path: Path) -> None:
    ds = beir.load_beir(write_set(tmp_path / "tiny"))
    assert sorted(ds.queries) == ["q1", "q2", "q3"] and len(ds.corpus) == 6
    assert ds.qrels["q3"] == {"d2": 1, "d5": 0}
    assert ds.describe()["judgements"] == 4 and ds.published_dense is None
    assert beir.data_status(tmp_path / "tiny", "dev")[0] is False
    assert "missing" in beir.data_status(tmp_path / "absent")[1]
    write_set(tmp_path / "scifact")
    assert beir.data_status(tmp_path / "scifact")[0] is False
    with pytest.raises(ValueError, match="held out"):
        beir.load_beir(tmp_path / "scifact")
    with pytest.raises(FileNotFoundError):
        beir.load_beir(tmp_path / "absent")


def test_subset_keeps_every_judged_document_of_the_kept_queries(tmp_path: Path) -> None:
    ds = beir.load_beir(write_set(tmp_path / "tiny"))
    cut = beir.subset(ds, max_queries=2, max_docs=4, seed=3)
    assert len(cut.queries) == 2 and len(cut.corpus) == 4
    for qid in cut.queries:
        assert set(ds.qrels[qid]) <= set(cut.corpus)
    assert "cut" in cut.notes and beir.subset(ds).corpus == ds.corpus
    with pytest.raises(ValueError):
        beir.subset(ds, max_docs=1)
    notes = beir.to_notes(cut)
    assert {n.id for n in notes} == set(cut.corpus) and all(n.body for n in notes)


def test_graded_ndcg_recall_and_mrr_by_hand() -> None:
    gains = {"a": 2, "b": 1, "z": 0}
    ideal = 2 + 1 / math.log2(3)
    assert graded_ndcg_at_k(["a", "b"], gains) == pytest.approx(1.0)
    assert graded_ndcg_at_k(["x", "b", "a"], gains) == pytest.approx(
        (1 / math.log2(3) + 2 / math.log2(4)) / ideal)
    assert graded_ndcg_at_k(["a"], {"z": 0}) is None
    got = beir.score_query(["q", "x", "b", "b", "a"], gains, query_id="q")
    assert got["ndcg_at_10"] == pytest.approx((1 / math.log2(3) + 2 / math.log2(4)) / ideal)
    assert got["recall_at_100"] == 1.0 and got["mrr_at_10"] == pytest.approx(1 / 2)
    kept = beir.score_query(["q", "a"], {"q": 1, "a": 1}, query_id="q", ignore_identical=False)
    assert kept["mrr_at_10"] == 1.0


def test_nfcorpus_release_becomes_the_beir_layout(tmp_path: Path) -> None:
    rel = tmp_path / "release"
    rel.mkdir()
    (rel / "dev.docs").write_text("MED-1\tstatin breast cancer\nMED-2\tgreen tea\n")
    (rel / "test.docs").write_text("MED-2\tgreen tea\nMED-3\tflax seeds\n")
    (rel / "dev.2-1-0.qrel").write_text("PLAIN-1\t0\tMED-1\t2\nPLAIN-1\t0\tMED-2\t0\n")
    (rel / "test.2-1-0.qrel").write_text("PLAIN-2\t0\tMED-3\t1\nPLAIN-2\t0\tMED-9\t2\n")
    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(json.dumps({"_id": f"PLAIN-{i}", "text": f"query {i}"}) + "\n"
                               for i in (1, 2, 3)))
    counts = beir.convert_nfcorpus_release(rel, queries, tmp_path / "nfcorpus")
    assert counts == {"documents": 3, "dev_judgements": 1, "test_judgements": 1, "queries": 2}
    test = beir.load_beir(tmp_path / "nfcorpus", "test")
    assert test.qrels == {"PLAIN-2": {"MED-3": 1}} and test.published_dense == 0.3159
    assert beir.load_beir(tmp_path / "nfcorpus", "dev").queries == {"PLAIN-1": "query 1"}


class FakeEmbedder:
    model_id, dim, loaded = "fake", 3, True

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts, *, progress=False):
        self.seen += list(texts)
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


def test_cached_embedder_embeds_each_text_once_across_runs(tmp_path: Path) -> None:
    inner = FakeEmbedder()
    first = beir_run.CachedEmbedder(inner, tmp_path)
    out = first.embed(["a", "bb", "a"])
    assert out[:, 0].tolist() == [1, 2, 1] and inner.seen == ["a", "bb"]
    first.save()
    second = beir_run.CachedEmbedder(inner, tmp_path)
    assert second.embed(["bb", "ccc"])[:, 0].tolist() == [2, 3]
    assert inner.seen == ["a", "bb", "ccc"] and second.computed == 1
    assert second.embed([]).shape == (0, 3)
    bf16 = beir_run.CachedEmbedder(inner, tmp_path, "openvino-bf16")  # other numerics: own files
    assert bf16.embed(["a"])[:, 0].tolist() == [1] and bf16.computed == 1


def test_public_metrics_compare_hybrid_with_each_half() -> None:
    table = pd.DataFrame([
        {"config": "dense", "ndcg_at_10": 0.30, "recall_at_100": 0.2, "mrr_at_10": 0.5,
         "p50_ms": 2.0, "p99_ms": 4.0},
        {"config": "lexical (bm25)", "ndcg_at_10": 0.32, "recall_at_100": 0.2,
         "mrr_at_10": 0.5, "p50_ms": 3.0, "p99_ms": 6.0},
        {"config": "lexical (ts_rank_cd)", "ndcg_at_10": 0.25, "recall_at_100": 0.2,
         "mrr_at_10": 0.5, "p50_ms": 2.0, "p99_ms": 3.0},
        {"config": "hybrid (default)", "ndcg_at_10": 0.35, "recall_at_100": 0.3,
         "mrr_at_10": 0.6, "p50_ms": 5.0, "p99_ms": 9.0},
    ])
    got = beir_run.public_metrics(table, published=0.31)
    assert got["hybrid_minus_dense"] == pytest.approx(0.05)
    assert got["hybrid_minus_best_single"] == pytest.approx(0.03)
    assert got["dense_minus_published"] == pytest.approx(-0.01)
    assert got["bm25_vs_ts_rank_cd_p50_ratio"] == pytest.approx(1.5)
    assert got["hybrid"]["recall_at_100"] == 0.3


def test_grid_names_every_combination() -> None:
    configs = beir_run.grid(SearchParams(mode="hybrid"), rrf_k=[10, 60], lexical_weight=[1.0])
    assert list(configs) == ["rrf_k=10 lexical_weight=1.0", "rrf_k=60 lexical_weight=1.0"]
    assert configs["rrf_k=10 lexical_weight=1.0"].rrf_k == 10


def test_run_public_skips_absent_sets_with_a_reason(tmp_path: Path, capsys) -> None:
    from evals import gates
    from evals.report import record

    got = beir_run.run_public(["nfcorpus", "scifact"], tmp_path)
    assert set(got["skipped"]) == {"nfcorpus", "scifact"}
    assert got["metrics"]["nfcorpus"] == dict.fromkeys(beir_run.COMPARISONS)
    assert "held out" in got["skipped"]["scifact"]
    assert "public set nfcorpus skipped" in capsys.readouterr().out
    # the full profile's gates on an absent set skip: the notebook ran, nothing was measured
    flat = record.flatten("retrieval", {"public": got["metrics"]})
    checked = [g for g in gates.load_gates(profile="full") if ".public.nfcorpus." in g.name]
    assert checked
    results = gates.evaluate(checked, flat, ran=["retrieval"])
    assert {r.status for r in results} == {"skipped"}


@pytest.mark.integration
def test_a_tiny_set_through_ingest_and_every_mode(tmp_path: Path, live_settings) -> None:
    from rag_core.parts import build_parts

    write_set(tmp_path / "tiny")
    parts = build_parts(live_settings)
    try:
        got = beir_run.run_public(["tiny"], tmp_path, parts=parts, progress=False)
        again = beir_run.evaluate(tmp_path / "tiny", parts=parts, progress=False)
    finally:
        parts.close()
    table = got["table"].set_index("config")
    assert list(table.index) == ["dense", "lexical (bm25)", "lexical (ts_rank_cd)",
                                 "hybrid (default)"]
    assert table["queries"].tolist() == [3, 3, 3, 3]
    assert table.loc["dense", "ndcg_at_10"] == pytest.approx(1.0)  # plain paraphrases
    assert table.loc["hybrid (default)", "recall_at_100"] == 1.0
    assert (table["p50_ms"] > 0).all()
    assert again["ingest"]["chunks_written"] == 0 and again["ingest"]["embedded_now"] == 0
    assert set(got["metrics"]["tiny"]) >= {"dense", "hybrid", "hybrid_minus_dense"}
