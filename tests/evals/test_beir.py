"""The BEIR loader, scoring and runner on small sets written here (no public data needed)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from evals.datasets import beir
from evals.metrics.retrieval import graded_ndcg_at_k
from evals.retrieval import beir_public, beir_run
from rag_core.config import Retrieval

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

def test_set_vectors_are_cached_per_machine_user_else_in_the_state_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts: Any = SimpleNamespace(settings=SimpleNamespace(services=SimpleNamespace(
        state_dir=str(tmp_path / "state"))))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shared = beir_run.cache_dir_for(parts, "/anywhere/shared/beir/cisi")
    assert shared == tmp_path / "cache" / "rag_core" / "beir" / "cisi"
    (tmp_path / "blocker").write_text("")  # a file: no cache folder can be made under it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "blocker"))
    assert beir_run.cache_dir_for(parts, "cisi") == tmp_path / "state" / "beir" / "cisi"
    inner: Any = FakeEmbedder()  # two checkouts' runs on the shared folder: one file, whole
    beir_run.CachedEmbedder(inner, shared).embed(["a"])
    first = beir_run.CachedEmbedder(inner, shared)
    first.embed(["a", "bb"])
    first.save()
    assert [f.name for f in shared.iterdir()] == [first._path.name]
    assert beir_run.CachedEmbedder(inner, shared).embed(["bb"])[:, 0].tolist() == [2]


def test_grid_names_every_combination() -> None:
    configs = beir_run.grid(Retrieval(retrieval_mode="hybrid"), rrf_k=[10, 60],
                            fusion_lexical_weight=[1.0])
    assert list(configs) == ["rrf_k=10 fusion_lexical_weight=1.0",
                             "rrf_k=60 fusion_lexical_weight=1.0"]
    assert configs["rrf_k=10 fusion_lexical_weight=1.0"].rrf_k == 10


@pytest.mark.integration
def test_a_tiny_set_through_ingest_and_every_mode(tmp_path: Path, live_settings) -> None:
    from rag_core.parts import build_parts

    write_set(tmp_path / "tiny")
    parts = build_parts(live_settings)
    try:
        got = beir_public.run_public(["tiny"], tmp_path, parts=parts, progress=False)
        again = beir_run.evaluate(tmp_path / "tiny", parts=parts, progress=False,
                                  depth=beir_run.TOP_CHUNKS)  # the chunking sweep's rows
    finally:
        parts.close()
    table = got["table"].set_index("config")
    assert list(table.index) == ["dense", "bm25", "ts_rank_cd", "hybrid", "auto"]
    assert table["default"].tolist() == [False, False, False, False, True]  # the service's mode
    assert table["queries"].tolist() == [3, 3, 3, 3, 3]
    # a library under RAG_PRF_MIN_CHUNKS: auto searches it as hybrid
    assert table.loc["auto", "ndcg_at_10"] == table.loc["hybrid", "ndcg_at_10"]
    assert got["metrics"]["tiny"]["default_minus_hybrid"] == 0.0
    assert table.loc["dense", "ndcg_at_10"] == pytest.approx(1.0)  # plain paraphrases
    assert table.loc["hybrid", "recall_at_100"] == 1.0
    assert (table["p50_ms"] > 0).all()
    assert again["ingest"]["chunks_written"] == 0 and again["ingest"]["embedded_now"] == 0
    shallow = again["table"].set_index("config")  # no deep search: nDCG@10 alone, the same
    assert shallow.loc["hybrid", "ndcg_at_10"] == table.loc["hybrid", "ndcg_at_10"]
    assert shallow["recall_at_100"].isna().all()
    assert set(got["metrics"]["tiny"]) >= {"dense", "hybrid", "default_minus_best_single"}
    assert got["metrics"]["tiny"]["bm25_minus_reference"] is None  # no reference for it


def test_a_query_over_the_service_limit_is_cut_at_a_word_boundary() -> None:
    assert beir_run.fit_query("short question", 1000) == "short question"
    cut = beir_run.fit_query("alpha beta gamma delta", 12)
    assert cut == "alpha beta" and len(cut) <= 12
    assert beir_run.fit_query("x" * 30, 10) == "x" * 10  # one long word: cut inside it
