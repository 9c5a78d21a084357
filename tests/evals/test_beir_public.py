"""The public section of notebook 02: figures per set and mode, comparisons, skips, plot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evals import gates
from evals.datasets import beir
from evals.report import record
from evals.retrieval import beir_public
from rag_core.config import Retrieval


def table(**ndcg: float) -> pd.DataFrame:
    return pd.DataFrame([{"set": "tiny", "config": mode, "ndcg_at_10": value,
                          "recall_at_100": 0.5, "mrr_at_10": 0.6, "p50_ms": 2.0, "p99_ms": 4.0,
                          "bm25_reference": 0.3 if mode == "bm25" else float("nan"),
                          "default": mode == "hybrid"}
                         for mode, value in ndcg.items()])


def test_public_metrics_compare_the_default_with_each_half_and_bm25_with_its_reference(
) -> None:
    got = beir_public.public_metrics(table(dense=0.30, bm25=0.32, ts_rank_cd=0.25,
                                           hybrid=0.35), "hybrid", published=0.31,
                                     reference=0.33)
    assert got["default_minus_dense"] == pytest.approx(0.05)
    assert got["default_minus_bm25"] == pytest.approx(0.03)
    assert got["default_minus_best_single"] == pytest.approx(0.03)
    assert got["hybrid_minus_best_single"] == pytest.approx(0.03)
    assert got["bm25_minus_reference"] == pytest.approx(-0.01)
    assert got["dense_minus_published"] == pytest.approx(-0.01)
    assert got["hybrid"]["ndcg_at_10"] == 0.35 and got["bm25"]["p99_ms"] == 4.0
    flat = record.flatten("retrieval", {"public": {"tiny": got}})
    assert flat["retrieval.public.tiny.bm25.ndcg_at_10"] == 0.32
    assert flat["retrieval.public.tiny.dense.recall_at_100"] == 0.5


def test_a_feedback_default_is_compared_with_hybrid_too() -> None:
    got = beir_public.public_metrics(table(dense=0.40, bm25=0.32, hybrid=0.39, hybrid_prf=0.43),
                                     "hybrid_prf")
    assert got["default_minus_hybrid"] == pytest.approx(0.04)
    assert got["default_minus_best_single"] == pytest.approx(0.03)
    assert got["hybrid_minus_best_single"] == pytest.approx(-0.01)
    assert got["hybrid_prf"]["ndcg_at_10"] == 0.43
    assert beir_public.default_slug(Retrieval(retrieval_mode="hybrid_prf")) == "hybrid_prf"
    base = Retrieval(retrieval_mode="hybrid_prf", prf_min_chunks=5)
    configs = beir_public.mode_configs(base)
    assert list(configs) == ["dense", "bm25", "ts_rank_cd", "hybrid", "hybrid_prf"]
    assert configs["hybrid_prf"].prf_min_chunks == 5
    assert configs["hybrid"].retrieval_mode == "hybrid"


def test_the_mean_gain_over_hybrid_is_over_the_sets_measured() -> None:
    sets = {name: beir_public.public_metrics(table(dense=0.4, bm25=0.3, hybrid=h, auto=a),
                                             "auto")
            for name, h, a in (("one", 0.40, 0.45), ("two", 0.50, 0.49))}
    sets["absent"] = beir_public.empty_metrics()
    got = beir_public.mean_metrics(sets)
    assert got == {"sets": 2, "default_minus_hybrid": pytest.approx(0.02)}
    flat = record.flatten("retrieval", {"public": {**sets, "mean": got}})
    assert flat["retrieval.public.mean.default_minus_hybrid"] == pytest.approx(0.02)
    assert beir_public.mean_metrics({"absent": beir_public.empty_metrics()}) == {
        "sets": 0, "default_minus_hybrid": None}


def test_a_default_mode_that_loses_to_a_half_shows_a_negative_margin() -> None:
    got = beir_public.public_metrics(table(dense=0.40, bm25=0.32, hybrid=0.35), "hybrid")
    assert got["default_minus_best_single"] == pytest.approx(-0.05)
    assert got["bm25_minus_reference"] is None and got["dense_minus_published"] is None


def test_mode_configs_search_every_mode_on_the_service_knobs() -> None:
    base = Retrieval(retrieval_mode="hybrid", rrf_k=17, bm25_k1=0.9)
    configs = beir_public.mode_configs(base)
    assert list(configs) == ["dense", "bm25", "ts_rank_cd", "hybrid"]
    assert configs["bm25"].retrieval_mode == "lexical" and configs["bm25"].lexical_ranker == "bm25"
    assert {c.rrf_k for c in configs.values()} == {17}
    assert {c.bm25_k1 for c in configs.values()} == {0.9}
    assert beir_public.default_slug(base) == "hybrid"
    lexical = base.with_(retrieval_mode="lexical", lexical_ranker="ts_rank_cd")
    assert beir_public.default_slug(lexical) == "ts_rank_cd"


def test_absent_sets_skip_with_a_reason_and_their_gates_skip(tmp_path: Path, capsys) -> None:
    names = ["medline", "cisi", "cranfield", "npl", "nfcorpus", "scifact"]
    got = beir_public.run_public(names, tmp_path)
    assert set(got["skipped"]) == set(names) and got["table"].empty
    assert "held out" in got["skipped"]["scifact"]
    assert "public set cranfield skipped" in capsys.readouterr().out
    flat = record.flatten("retrieval", {"public": got["metrics"]})
    assert flat["retrieval.public.cisi.bm25.ndcg_at_10"] is None
    for profile in ("ci", "full"):
        checked = [g for g in gates.load_gates(profile=profile) if ".public." in g.name]
        assert checked
        results = gates.evaluate(checked, flat, ran=["retrieval"])
        assert {r.status for r in results} == {"skipped"}, profile


def test_every_shared_set_has_gates_on_the_default_and_on_its_bm25_reference() -> None:
    by_name = {g.name: g for g in gates.load_gates()}
    for name, reference in beir.BM25_REFERENCE_NDCG10.items():
        bm25 = by_name[f"retrieval.public.{name}.bm25.ndcg_at_10"]
        assert (bm25.op, bm25.threshold) == ("ge", reference)
        assert by_name[f"retrieval.public.{name}.default_minus_best_single"].op == "ge"


def test_the_shared_folder_beside_the_checkout_is_found(tmp_path: Path, monkeypatch) -> None:
    checkout = tmp_path / "wt" / "branch"
    (tmp_path / "shared" / "beir" / "cisi").mkdir(parents=True)
    checkout.mkdir(parents=True)
    monkeypatch.setattr(beir, "REPO_ROOT", checkout)
    monkeypatch.setattr(beir, "DATA_DIR", checkout / "data" / "beir")
    assert beir.find_data_dir(["cisi"]) == tmp_path / "shared" / "beir"
    assert beir.find_data_dir(["npl"]) == checkout / "data" / "beir"  # none holds it


def test_the_plot_has_a_bar_per_set_and_mode(tmp_path: Path) -> None:
    frame = pd.concat([table(dense=0.3, bm25=0.32, hybrid=0.35),
                       table(dense=0.5, bm25=0.6, hybrid=0.65).assign(set="other")])
    png = beir_public.plot_public(frame, tmp_path / "p.png", {"tiny": 0.3})
    assert png is not None and png.stat().st_size > 1000
    assert beir_public.plot_public(pd.DataFrame(), tmp_path / "none.png") is None
    assert "| tiny | hybrid (default) | 0.350 |" in beir_public.table_markdown(frame)
