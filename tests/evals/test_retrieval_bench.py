import math

import numpy as np
import pandas as pd
import pytest

from evals.datasets import corpus as corpus_mod
from evals.datasets import vector_cache
from evals.datasets.corpus import Corpus, Queries, Template
from evals.retrieval import bench as rb
from rag_core.config import Settings

# --- pure functions of the benchmark ----------------------------------------------------------


def test_recall_at_k_counts_the_overlap_of_the_first_k_ids():
    truth = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]
    found = [[1, 2, 3, 4, 99, 6], [12, 11, 10, 9, 8, 7]]
    assert rb.recall_at_k(found, truth, 5) == pytest.approx((4 / 5 + 4 / 5) / 2)
    assert rb.recall_at_k(found, found, 5) == 1.0
    assert rb.recall_at_k([[]], [[1, 2]], 5) == 0.0
    assert rb.recall_at_k([[1]], [[1]], 5) == 1.0  # fewer true neighbours than k
    assert math.isnan(rb.recall_at_k([[1]], [[]], 5))
    with pytest.raises(ValueError):
        rb.recall_at_k([[1]], [[1], [2]], 5)


def test_latency_stats_are_percentiles_in_ms_and_qps():
    stats = rb.latency_stats([0.001] * 98 + [0.010, 0.100])
    assert stats["p50_ms"] == pytest.approx(1.0)
    assert stats["p99_ms"] == pytest.approx(np.percentile([1.0] * 98 + [10, 100], 99))
    assert stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
    assert stats["qps"] == pytest.approx(100 / (0.098 + 0.110))
    assert math.isnan(rb.latency_stats([])["p50_ms"])


def _sweep(recalls, latencies=None):
    efs = [10, 20, 40, 80][:len(recalls)]
    lat = latencies or [1.0 + i for i in range(len(recalls))]
    return pd.DataFrame({"ef_search": efs, "recall_at_5": recalls, "p50_ms": lat})


def test_choose_ef_search_takes_the_smallest_reaching_the_target_else_the_best():
    assert rb.choose_ef_search(_sweep([0.90, 0.981, 0.99, 1.0])) == 20
    assert rb.choose_ef_search(_sweep([0.90, 0.95, 0.97, 0.97])) == 40
    assert rb.choose_ef_search(_sweep([0.5, 0.6]), target=0.55) == 20
    with pytest.raises(ValueError):
        rb.choose_ef_search(_sweep([]))


def test_the_recommendation_says_when_no_ef_search_reached_the_target():
    reached = rb.recommendation_note(0.981, "on 10 chunks")
    assert reached.startswith("smallest ef_search with recall@5 >= 0.98 on 10 chunks")
    missed = rb.recommendation_note(0.9568, "on 100000 chunks")
    assert missed.startswith("NO swept ef_search reached recall@5 >= 0.98") and "0.9568" in missed
    assert "NO" in rb.recommended_env(400, missed).splitlines()[0]


def test_pareto_front_drops_dominated_points():
    frame = pd.DataFrame({"p50_ms": [1.0, 2.0, 1.5, 3.0, 2.5],
                          "recall_at_5": [0.8, 0.95, 0.7, 0.99, 0.9]})
    front = rb.pareto_front(frame)
    assert front["p50_ms"].tolist() == [1.0, 2.0, 3.0]
    assert front["recall_at_5"].is_monotonic_increasing


def test_at_recall_is_the_fastest_row_reaching_the_target_else_the_best():
    frame = _sweep([0.9, 0.99, 1.0, 1.0], [1.0, 2.0, 4.0, 3.0])
    assert rb.at_recall(frame, 0.95)["ef_search"] == 20
    assert rb.at_recall(frame, 1.0)["ef_search"] == 80  # same recall, faster
    assert rb.at_recall(_sweep([0.5, 0.7]), 0.9)["ef_search"] == 20


def test_exact_neighbours_matches_a_full_sort_and_respects_masks():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(200, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[:7] + 0.01
    got = rb.exact_neighbours(base, queries, k=5, block=3)
    want = np.argsort(-(queries @ base.T), axis=1)[:, :5]
    assert (got == want).all()
    users = rng.integers(0, 4, size=200)
    masks = [users == u for u in range(4)] + [np.zeros(200, bool)] * 3
    got = rb.exact_neighbours(base, queries, k=5, allowed=masks)
    for row, mask in zip(got[:4], masks[:4], strict=True):
        assert all(mask[i] for i in row)
    assert (got[4:] == -1).all()
    assert rb.truth_lists(got[4:]) == [[], [], []]


def test_recommended_env_uses_the_settings_variable():
    text = rb.recommended_env(60, "why")
    assert text.splitlines()[-1] == "RAG_HNSW_EF_SEARCH=60"
    name, _, value = text.splitlines()[-1].partition("=")
    written = Settings(**{name.removeprefix("RAG_").lower(): int(value)})
    assert written.retrieval.hnsw_ef_search == 60


# --- the corpus generator ------------------------------------------------------------------------

TEMPLATES = [
    Template(title=f"Note {i}", speaker=f"Pastor Ann Smith{i}", series=f"Series {i}",
             books=("Hebrews",) if i % 2 else ("Ruth",), scripture=("Hebrews 11:1",),
             tags=("faith",),
             sentences=tuple(f"Smith{i} read Hebrews {j} and said thing number {j} of {i}."
                             for j in range(12)))
    for i in range(6)
]


@pytest.mark.parametrize("n,labels", [(1000, 8), (10, 3), (7, 2)])
def test_staggered_searches_every_question_once_per_label_never_twice_in_a_row(n, labels):
    from evals.retrieval.store import staggered

    names = [f"mode{j}" for j in range(labels)]
    order = staggered(n, names)
    assert sorted(order) == sorted((k, name) for k in range(n) for name in names)
    assert all(a[0] != b[0] for a, b in zip(order, order[1:], strict=False))


def test_sentence_and_reference_helpers():
    body = "First sentence is here, long enough. Second one too, said she!\n\nA new paragraph."
    assert corpus_mod.split_sentences(body) == [
        "First sentence is here, long enough.", "Second one too, said she!"]
    assert corpus_mod.book_of("1 Kings 19:4-8") == "1 Kings"
    assert corpus_mod.book_of("Song of Songs 2:1") == "Song of Songs"
    assert corpus_mod.book_of("grace") is None
    mapping = {"Okafor": "Lee", "Pastor Miriam Okafor": "Rev. Jo Lee", "Ruth": "Mark"}
    assert corpus_mod.substitute("Pastor Miriam Okafor and Okafor read Ruth, not Ruthless.",
                                 mapping) == "Rev. Jo Lee and Lee read Mark, not Ruthless."
    w = corpus_mod.user_weights(5)
    assert w.sum() == pytest.approx(1.0) and (np.diff(w) < 0).all()


def test_generate_is_seeded_unique_and_prefix_stable():
    big = corpus_mod.generate(300, users=7, seed=3, templates=TEMPLATES)
    small = corpus_mod.generate(120, users=7, seed=3, templates=TEMPLATES)
    other = corpus_mod.generate(120, users=7, seed=4, templates=TEMPLATES)
    assert len(big) == 300 and len(set(big.texts)) == 300
    assert small.texts == big.texts[:120]
    assert (small.user_ids == big.user_ids[:120]).all()
    assert other.texts != small.texts
    assert set(big.user_ids.tolist()) <= set(range(7))
    for note_id, user in zip(big.note_ids, big.user_ids, strict=True):
        assert big.notes[note_id]["user"] == user
    queries = corpus_mod.generate_queries(20, 7, 3, big.texts, TEMPLATES,
                                          golden_questions=["q1?", "q2?", "q3?"])
    assert queries.kinds.count("golden") == 3 and len(queries.texts) == 20
    assert not set(queries.texts) & set(big.texts)
    facts = corpus_mod.describe(big, queries)
    assert facts["chunks"] == 300 and facts["golden_queries"] == 3


def test_cached_embed_reuses_and_extends_a_cached_prefix(tmp_path):
    calls: list[int] = []

    def fake(texts):
        calls.append(len(texts))
        return np.stack([np.full(4, len(t), dtype=np.float32) for t in texts])

    texts = [f"text {i}" * (i % 3 + 1) for i in range(50)]
    first, src = vector_cache.cached_embed(texts[:20], "corpus_20_1", tmp_path, fake, False)
    assert src == "embedded 20" and calls == [20]
    again, src = vector_cache.cached_embed(texts[:20], "corpus_20_1", tmp_path, fake, False)
    assert src == "cache" and calls == [20] and (again == first).all()
    longer, src = vector_cache.cached_embed(texts, "corpus_50_1", tmp_path, fake, False)
    assert calls == [20, 30] and src.startswith("embedded 30")
    assert (longer[:20] == first).all() and longer.shape == (50, 4)
    shorter, src = vector_cache.cached_embed(texts[:10], "corpus_10_1", tmp_path, fake, False)
    assert src == "cache-prefix" and calls == [20, 30] and (shorter == first[:10]).all()
    _, src = vector_cache.cached_embed(texts[:10], "corpus_10_2", tmp_path, fake, False)
    assert src == "embedded 10"  # another seed is another family


def test_cached_vectors_of_one_runtime_never_serve_another(tmp_path):
    def fake(texts):
        return np.ones((len(texts), 4), dtype=np.float32)

    texts = ["grace", "mercy"]
    vector_cache.cached_embed(texts, "corpus_2_1", tmp_path, fake, False,
                              key=vector_cache.runtime_key(Settings(embedding_backend="torch")))
    openvino = Settings(embedding_backend="openvino", openvino_precision="bf16")
    assert vector_cache.runtime_key(openvino) == "all-MiniLM-L6-v2-openvino-bf16"
    _, src = vector_cache.cached_embed(texts, "corpus_2_1", tmp_path, fake, False,
                                       key=vector_cache.runtime_key(openvino))
    assert src == "embedded 2"
    assert sorted(p.name for p in (tmp_path / "bench").iterdir()) == [
        "all-MiniLM-L6-v2-openvino-bf16", "all-MiniLM-L6-v2-torch"]


def test_without_a_state_folder_the_vectors_are_the_machine_users(tmp_path, monkeypatch):
    """Every checkout of the machine (a fresh clone's CI run too) shares one file per corpus,
    beside the exported models, as the public sets' vectors are shared."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("RAG_STATE_DIR", str(tmp_path / "state"))

    def fake(texts):
        return np.ones((len(texts), 4), dtype=np.float32)

    _, src = vector_cache.cached_embed(["grace"], "corpus_1_1", None, fake, False, key="k")
    assert src == "embedded 1"
    assert (tmp_path / "cache" / "rag_core" / "bench" / "k" / "corpus_1_1.npz").is_file()
    assert not (tmp_path / "state").exists()


# --- against a real PostgreSQL + pgvector ---------------------------------------------------------


def _tiny(n=300, n_queries=30, users=4, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, dim)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[rng.choice(n, n_queries, replace=False)] + rng.normal(
        scale=0.3, size=(n_queries, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    note_ids = np.arange(n) // 5
    note_users = rng.integers(0, users, size=note_ids.max() + 1)
    corpus = Corpus(texts=[f"sermon chunk {i} about grace and faith" for i in range(n)],
                    note_ids=note_ids, user_ids=note_users[note_ids],
                    notes=[{"title": f"n{i}", "speaker": "s", "series": "x", "tags": ["t"],
                            "scripture": [], "user": int(u)} for i, u in enumerate(note_users)],
                    seed=seed, vectors=base)
    qs = Queries(texts=[f"grace question {i}" for i in range(n_queries)],
                 kinds=["synthetic"] * n_queries,
                 user_ids=rng.integers(0, users, size=n_queries), vectors=queries)
    return corpus, qs


@pytest.mark.integration
def test_benchmark_measurements_are_sane_on_a_tiny_corpus(database_url, monkeypatch):
    import psycopg
    from psycopg.conninfo import make_conninfo

    corpus, queries = _tiny()
    assert corpus.vectors is not None and queries.vectors is not None
    with rb.connect(database_url) as conn:
        truth = rb.truth_lists(rb.exact_neighbours(corpus.vectors, queries.vectors))
        rb.load_table(conn, "tiny", corpus.vectors, corpus.user_ids)
        build = rb.build_index(conn, "tiny", 8, 32)
        assert build["build_s"] > 0 and build["index_mb"] > 0
        rows = rb.pg_sweep(conn, "tiny", queries.vectors, truth, [10, 400])
        for row in rows:
            assert 0.0 <= row["recall_at_5"] <= 1.0 and row["p50_ms"] <= row["p99_ms"]
        assert rows[-1]["recall_at_5"] == 1.0 and rows[-1]["recall_at_10"] == 1.0
        assert rb.pg_exact(conn, "tiny", queries.vectors, truth)["recall_at_10"] == 1.0
        masks = [corpus.user_ids == u for u in queries.user_ids]
        user_truth = rb.truth_lists(rb.exact_neighbours(corpus.vectors, queries.vectors,
                                                        allowed=masks))
        filt, found = rb.pg_filtered(conn, "tiny", queries.vectors, queries.user_ids,
                                     user_truth, ef_search=400)
        assert {r["iterative_scan"] for r in filt} == {"off", "relaxed_order"}
        assert filt[1]["recall_at_5"] == 1.0
        for ids, user in zip(found, queries.user_ids, strict=True):
            assert ids and all(corpus.user_ids[i] == user for i in ids)
        plan = conn.execute("EXPLAIN SELECT id FROM tiny ORDER BY embedding <=> %s LIMIT 5",
                            (queries.vectors[0],)).fetchall()
        assert "tiny_hnsw" in " ".join(r[0] for r in plan)  # the sweep used the index
        assert rb.index_used(conn, "tiny", queries.vectors[0], 40)
        conn.execute("DROP INDEX tiny_hnsw")
        assert not rb.index_used(conn, "tiny", queries.vectors[0], 40)  # a seq scan now
        half = rb.build_index(conn, "tiny", 8, 32, "halfvec", 32)
        assert half["vector_type"] == "halfvec" and half["index_mb"] <= build["index_mb"]
        assert rb.index_used(conn, "tiny", queries.vectors[0], 40, dim=32)
        assert not rb.index_used(conn, "tiny", queries.vectors[0], 40)  # vector: no index
        rb.build_index(conn, "tiny", 8, 32)
        # as the store searches: a user at or under the cap on own rows, exact; above, HNSW
        chunks = np.bincount(corpus.user_ids)
        for cap, share in ((10_000, 1.0), (0, 0.0)):
            row = rb.store_filtered(conn, "tiny", queries.vectors, queries.user_ids, user_truth,
                                    400, chunks, cap)
            assert row["own_rows_share"] == share and row["recall_at_5"] == 1.0

    # the whole run, hybrid store included, without touching the shared embedded server
    monkeypatch.setattr(rb, "server_url", lambda state_dir=None: database_url)
    result = rb.run_benchmark(corpus, queries, [400], [[8, 32]], seed=1, hybrid_chunks=60,
                              url=database_url)
    metrics = rb.to_metrics(result)
    assert metrics["recall_at_5"] == 1.0 and metrics["recommended_ef_search"] == 400
    assert metrics["best_recall_at_5"] == 1.0 and metrics["index_used"] == 1
    assert metrics["recall_at_5_default_ef"] is None  # the default ef_search was not swept
    assert metrics["filtered_foreign_rows"] == 0
    assert metrics["filtered_recall_at_5_store"] == 1.0  # ~75 chunks a user: own rows, exact
    assert metrics["filtered_own_rows_share"] == 1.0
    # the headline index is the Settings' type; both types side by side at every ef_search
    assert result.vector_type == "halfvec" and set(result.builds["vector_type"].dropna()) == {
        "halfvec"}
    assert sorted(result.vector_types["vector_type"]) == ["halfvec", "vector"]
    assert metrics["vector_recall_at_5"] == 1.0 and metrics["halfvec_recall_at_5"] >= 0.95
    assert 0 < metrics["halfvec_index_mb"] <= metrics["vector_index_mb"]
    assert metrics["halfvec_p99_speedup"] > 0
    assert 0 <= metrics["filtered_recall_at_5_no_iterative"] <= 1
    assert metrics["hybrid_p99_ratio"] > 0 and metrics["speedup_vs_exact"] > 0
    assert result.paired["speedup"] == metrics["speedup_vs_exact"]
    assert result.paired["exact_p50_ms"] > 0 and result.paired["ef_search"] == 400
    assert set(result.hybrid["mode"]) == {"dense", "hybrid", "hybrid_ts_rank_cd",
                                          "lexical_bm25", "lexical_ts_rank_cd",
                                          "dense_shared_indexes", "hybrid_shared_indexes",
                                          "lexical_bm25_shared_indexes"}
    small = result.hybrid.set_index("mode")["small_users"]
    assert small["hybrid"].startswith("own rows") and small["dense_shared_indexes"] == (
        "shared indexes")
    assert metrics["hybrid_own_rows_p99_speedup"] > 0
    assert metrics["bm25_vs_ts_rank_cd_p50_ratio"] > 0
    assert set(result.sweep["engine"]) == {"pgvector", "hnswlib"}
    # the notebook's `settings`: their ef_search is the default the recall is reported at
    tuned = rb.run_benchmark(corpus, queries, [400], [[8, 32]], seed=1, url=database_url,
                             settings=rb.bench_settings(hnsw_ef_search=400))
    assert rb.to_metrics(tuned)["recall_at_5_default_ef"] == 1.0
    with psycopg.connect(make_conninfo(database_url, dbname="postgres"),
                         autocommit=True) as conn:
        for (name,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'rag_bench_store_%'"):
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_bench_plots_write_pngs(tmp_path):
    from evals.retrieval import plots as bench_plots

    rows = []
    for engine, m, efc, base in (("pgvector", 16, 64, 0.3), ("pgvector", 8, 32, 0.2),
                                 ("hnswlib", 16, 64, 0.02)):
        for i, ef in enumerate((10, 40, 160)):
            rows.append({"engine": engine, "m": m, "ef_construction": efc, "ef_search": ef,
                         "recall_at_5": 0.9 + 0.03 * i, "recall_at_10": 0.88 + 0.03 * i,
                         "p50_ms": base * (i + 1), "p99_ms": base * (i + 2)})
    sweep = pd.DataFrame(rows)
    paths = [bench_plots.plot_pareto(sweep, tmp_path / "a.png"),
             bench_plots.plot_recall_vs_ef(sweep, tmp_path / "b.png", 40),
             bench_plots.plot_engines(sweep[sweep["m"] == 16], 3.0, tmp_path / "c.png")]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
