"""IVFFlat beside HNSW (evals.retrieval.ivfflat): the pure parts, then a real pgvector."""

import numpy as np
import pandas as pd
import pytest

from evals.datasets.corpus import Corpus, Queries
from evals.retrieval import bench as rb
from evals.retrieval import ivfflat


def test_large_user_queries_keeps_the_users_over_the_limit():
    chunks = np.array([10, 600, 501, 500])
    users = np.array([0, 1, 2, 3, 1, 7])
    assert ivfflat.large_user_queries(chunks, users, 500).tolist() == [1, 2, 4]
    assert ivfflat.large_user_queries(chunks, users, 1000).tolist() == []


def test_iterative_scan_is_known_from_pgvector_0_8():
    assert ivfflat.has_iterative_scan((0, 8, 0)) and ivfflat.has_iterative_scan((1, 0))
    assert not ivfflat.has_iterative_scan((0, 7, 4)) and not ivfflat.has_iterative_scan(())


def test_the_halfvec_index_needs_its_dimension():
    with pytest.raises(ValueError):
        ivfflat.create_ivfflat_index("t", 10, "halfvec")
    with pytest.raises(ValueError):
        ivfflat.create_ivfflat_index("t", 10, "bit")


def _frame(ivf_recalls, ivf_p50, hnsw_recalls=(0.95, 0.99), hnsw_p50=(0.5, 1.0)):
    rows = [{"index": "hnsw", "m": 16, "ef_construction": 64, "ef_search": ef,
             "filtered": False, "recall_at_5": r, "recall_at_10": r, "p50_ms": p,
             "p99_ms": 2 * p, "setting": f"ef_search={ef}"}
            for ef, r, p in zip((10, 40), hnsw_recalls, hnsw_p50, strict=True)]
    rows += [{"index": "ivfflat", "lists": 64, "probes": pr, "filtered": False,
              "recall_at_5": r, "recall_at_10": r, "p50_ms": p, "p99_ms": 3 * p,
              "setting": f"lists=64 probes={pr}"}
             for pr, r, p in zip((1, 8), ivf_recalls, ivf_p50, strict=True)]
    builds = pd.DataFrame([{"index": "hnsw", "m": 16, "ef_construction": 64, "build_s": 4.0,
                            "index_mb": 8.0},
                           {"index": "ivfflat", "lists": 64, "build_s": 0.5, "index_mb": 2.0}])
    return pd.DataFrame(rows), builds


def test_compare_at_recall_takes_each_types_fastest_setting_at_the_target():
    frame, builds = _frame((0.9, 0.985), (0.3, 1.5))
    best = ivfflat.compare_at_recall(frame, builds).set_index("index")
    assert best.loc["hnsw", "setting"] == "ef_search=40" and best.loc["hnsw", "reached"]
    assert best.loc["ivfflat", "setting"] == "lists=64 probes=8"
    assert best.loc["ivfflat", "build_s"] == 0.5 and best.loc["hnsw", "index_mb"] == 8.0
    assert not best.loc["ivfflat", "every_list"]
    sentence = ivfflat.when_ivfflat(best.reset_index())
    assert "8.0x faster" in sentence and "4.0x smaller" in sentence and "1.5x" in sentence
    figures = ivfflat.metrics(frame, builds)
    assert figures["ivfflat_build_speedup_vs_hnsw"] == 8.0
    assert figures["ivfflat_size_vs_hnsw"] == 0.25 and figures["ivfflat_p50_vs_hnsw"] == 1.5
    assert figures["ivfflat_reached_target"] == 1


def test_ivfflat_that_never_reaches_the_target_is_said_not_to_do():
    frame, builds = _frame((0.8, 0.9), (0.3, 0.6))
    best = ivfflat.compare_at_recall(frame, builds)
    assert not best.set_index("index").loc["ivfflat", "reached"]
    assert ivfflat.when_ivfflat(best).startswith("IVFFlat would not do")
    assert ivfflat.metrics(frame, builds)["ivfflat_reached_target"] == 0
    every, _ = _frame((0.9, 0.99), (0.3, 1.5))
    every.loc[every["probes"] == 8, "probes"] = 64  # the only setting reaching it probes all
    best = ivfflat.compare_at_recall(every, builds)
    assert best.set_index("index").loc["ivfflat", "every_list"]
    assert "every list probed" in ivfflat.when_ivfflat(best)


def test_the_plot_draws_both_index_types(tmp_path):
    frame, _ = _frame((0.9, 0.985), (0.3, 1.5))
    path = ivfflat.plot_index_types(frame, tmp_path / "types.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ivfflat.plot_index_types(pd.DataFrame(), tmp_path / "none.png") is None


def _corpus(n=400, n_queries=24, users=3, dim=16, seed=3):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, dim)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[rng.choice(n, n_queries, replace=False)] + rng.normal(
        scale=0.3, size=(n_queries, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    note_ids = np.arange(n) // 4
    # user 0 owns half the notes: the one user over the own-rows limit set below
    note_users = np.where(np.arange(note_ids.max() + 1) % 2 == 0, 0,
                          rng.integers(1, users, size=note_ids.max() + 1))
    corpus = Corpus(texts=[f"chunk {i}" for i in range(n)], note_ids=note_ids,
                    user_ids=note_users[note_ids],
                    notes=[{"title": f"n{i}", "speaker": "s", "series": "x", "tags": [],
                            "scripture": [], "user": int(u)} for i, u in enumerate(note_users)],
                    seed=seed, vectors=base)
    qs = Queries(texts=[f"q {i}" for i in range(n_queries)], kinds=["synthetic"] * n_queries,
                 user_ids=np.arange(n_queries) % users, vectors=queries)
    return corpus, qs


@pytest.mark.integration
def test_ivfflat_is_swept_beside_hnsw_on_the_same_table(database_url):
    corpus, queries = _corpus()
    settings = rb.bench_settings(user_scan_max_chunks=150, user_scan_scale=0.0)
    result = rb.run_benchmark(corpus, queries, [10, 400], [[8, 32]], seed=5,
                              url=database_url, settings=settings, ivf_lists=[4, 8],
                              ivf_probes=[1, 8])
    frame, builds = result.index_types, result.index_builds
    ivf = frame[frame["index"] == "ivfflat"]
    assert sorted(set(zip(ivf["lists"], ivf["probes"], strict=True))) == [
        (4, 1), (4, 4), (8, 1), (8, 8)]  # probes capped at lists
    # every list probed is an exact search: recall 1 over the table and for the large user
    full = ivf[ivf["probes"] == ivf["lists"]]
    assert (full["recall_at_5"] == 1.0).all() and (full["recall_at_10"] == 1.0).all()
    filtered = ivf[ivf["filtered"]]
    assert set(filtered["iterative_scan"]) == {"relaxed_order"}  # the embedded pgvector >= 0.8
    assert set(filtered["queries"]) == {8}  # user 0's queries: 24 queries over 3 users
    hnsw_large = frame[(frame["index"] == "hnsw") & frame["filtered"]]
    assert sorted(hnsw_large["ef_search"]) == [10, 400] and set(hnsw_large["queries"]) == {8}
    assert set(builds["index"]) == {"hnsw", "ivfflat"}
    assert (builds.loc[builds["index"] == "ivfflat", "index_mb"] > 0).all()
    metrics = rb.to_metrics(result)
    assert metrics["ivfflat_recall_at_5"] == 1.0 and metrics["ivfflat_filtered_recall_at_5"] == 1.0
    assert metrics["ivfflat_build_speedup_vs_hnsw"] > 0 and metrics["ivfflat_size_vs_hnsw"] > 0
    assert "8 queries" in result.notes["ivfflat_large_user_queries"]
