"""The retrieval benchmark that ``notebooks/02_retrieval_benchmark.ipynb`` shows.

A synthetic corpus (``evals.datasets.corpus``) goes into a table of its own in the ``rag_bench``
database of the (embedded) PostgreSQL server. For each HNSW build pair ``(m, ef_construction)``
the index is built (time, ``pg_relation_size``) and a sweep of ``hnsw.ef_search`` is timed
query by query over one connection, with recall@5/@10 against exact neighbours from numpy.
The first pair is the configuration of the headline metrics: its exact sequential scan in
PostgreSQL (same run, index scans off), its per-user filtered search with
``hnsw.iterative_scan`` off and ``relaxed_order``, and the same sweep on hnswlib in process.
Finally the real ``PgVectorStore`` times dense, hybrid and lexical search (BM25 and
``ts_rank_cd``) on the corpus with text.

Parts: ``evals.retrieval.stats`` (pure functions, tested alone), ``evals.retrieval.pg`` (the
PostgreSQL side, running the store's own dense scan), ``evals.retrieval.store`` (the real
store); this module runs them in order and flattens the result.  The names of those modules are
re-exported here, where the notebook and the tests look for them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evals.datasets.arrays import Ids, Vectors
from evals.datasets.corpus import Corpus, Queries
from evals.jsonish import number
from evals.retrieval import ivfflat
from evals.retrieval.pg import (  # noqa: F401 (re-exported)
    BENCH_DB,
    Conn,
    _row,
    bench_settings,
    build_index,
    connect,
    drop_table,
    exact_mode,
    halfvec_dim,
    hnsw_mode,
    index_used,
    load_table,
    paired_speedup,
    pg_exact,
    pg_filtered,
    pg_sweep,
    server_url,
    set_option,
    store_filtered,
    time_queries,
    vector_type_sweep,
)
from evals.retrieval.stats import (  # noqa: F401 (re-exported)
    ENV_NAME,
    RECALL_TARGET,
    K,
    at_recall,
    choose_ef_search,
    exact_neighbours,
    latency_stats,
    pareto_front,
    recall_at_k,
    recommendation_note,
    recommended_env,
    truth_lists,
)
from evals.retrieval.store import ingest_corpus, store_for, store_modes
from rag_core import services
from rag_core.config import Settings
from rag_core.store.searching import user_rows_limit

# --- hnswlib, the in-process reference -----------------------------------------------------


def hnswlib_sweep(base: Vectors, queries: Vectors, truth: list[list[int]], m: int,
                  ef_construction: int, ef_values: Iterable[int], seed: int = 0
                  ) -> tuple[list[dict[str, object]], dict[str, object]]:
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=m, ef_construction=ef_construction,
                     random_seed=seed)
    index.set_num_threads(1)
    start = time.perf_counter()
    index.add_items(base, np.arange(len(base)))
    build = {"m": m, "ef_construction": ef_construction,
             "build_s": time.perf_counter() - start, "engine": "hnswlib"}
    rows = []
    for ef in ef_values:
        index.set_ef(max(ef, K))
        found, secs = [], np.empty(len(queries))
        for i, vec in enumerate(queries):
            t0 = time.perf_counter()
            labels, _ = index.knn_query(vec, k=K)
            secs[i] = time.perf_counter() - t0
            found.append([int(x) for x in labels[0]])
        rows.append(_row(found, truth, secs, engine="hnswlib", ef_search=ef, m=m,
                         ef_construction=ef_construction))
    return rows, build


# --- the whole run -------------------------------------------------------------------------


@dataclass
class BenchResult:
    builds: pd.DataFrame
    sweep: pd.DataFrame  # pgvector and hnswlib, every pair and ef_search
    exact: pd.DataFrame
    filtered: pd.DataFrame
    hybrid: pd.DataFrame
    scale: pd.DataFrame
    recommended_ef_search: int
    main_pair: tuple[int, int]
    corpus_size: int
    paired: dict[str, float] = field(default_factory=dict)  # interleaved HNSW vs exact
    notes: dict[str, str] = field(default_factory=dict)
    default_ef_search: int = 40  # Settings.hnsw_ef_search of the run: what the service uses
    # both HNSW index types at the first pair, each alone (retrieval_pg.vector_type_sweep)
    vector_types: pd.DataFrame = field(default_factory=pd.DataFrame)
    vector_type_builds: pd.DataFrame = field(default_factory=pd.DataFrame)
    vector_type: str = "vector"  # of the headline index: Settings.hnsw_vector_type
    # IVFFlat beside HNSW (evals.retrieval.ivfflat): both types' rows and builds
    index_types: pd.DataFrame = field(default_factory=pd.DataFrame)
    index_builds: pd.DataFrame = field(default_factory=pd.DataFrame)


def measure_size(conn: Conn, table: str, base: Vectors, queries: Vectors,
                 user_ids: Ids, pairs: Sequence[Sequence[int]], ef_values: Sequence[int],
                 vector_type: str = "vector",
                 ) -> tuple[pd.DataFrame, pd.DataFrame, list[list[int]]]:
    """Load, and per pair build (an index of ``vector_type``) + sweep; the index of the first
    pair is left in place."""
    truth = truth_lists(exact_neighbours(base, queries))
    load_table(conn, table, base, user_ids)
    builds, rows = [], []
    dim = halfvec_dim(vector_type, base)
    for m, efc in reversed([tuple(p) for p in pairs]):  # first pair last: its index stays
        builds.append({**build_index(conn, table, m, efc, vector_type, dim),
                       "engine": "pgvector"})
        rows += pg_sweep(conn, table, queries, truth, ef_values, dim, m=m,
                         ef_construction=efc, corpus_size=len(base), vector_type=vector_type)
    return pd.DataFrame(builds[::-1]), pd.DataFrame(rows), truth


def run_benchmark(corpus: Corpus, queries: Queries, ef_values: Sequence[int],
                  hnsw_params: Sequence[Sequence[int]], *, seed: int = 0,
                  state_dir: str | Path | None = None, hybrid_chunks: int = 0,
                  scale_sizes: Sequence[int] = (), url: str | None = None,
                  keep_tables: bool = False, target: float = RECALL_TARGET,
                  settings: Settings | None = None, ivf_lists: Sequence[int] = (),
                  ivf_probes: Sequence[int] = ()) -> BenchResult:
    """Everything the notebook shows, on ``corpus`` (embedded) and ``queries`` (embedded).
    ``settings``: the notebook's effective Settings (``evals.knobs.resolve``; default: the
    bench's ci Settings): the real store of the dense/hybrid comparison runs with them, and
    their ``hnsw_ef_search`` is the "default" the recall is also reported at. ``ivf_lists`` x
    ``ivf_probes``: IVFFlat on the same table after the HNSW passes (empty: not measured)."""
    assert corpus.vectors is not None and queries.vectors is not None
    settings = settings or bench_settings(state_dir)
    url = url or services.ensure_database(server_url(state_dir), BENCH_DB)
    ef_values = sorted({int(e) for e in ef_values})
    m0, efc0 = (int(x) for x in hnsw_params[0])
    n = len(corpus)
    qv, qu = queries.vectors, queries.user_ids
    table = f"bench_{n}_{seed}"
    kind = settings.index.hnsw_vector_type  # the headline index is the service's
    dim = halfvec_dim(kind, qv)
    with connect(url) as conn:
        builds, sweep, truth = measure_size(conn, table, corpus.vectors, qv, corpus.user_ids,
                                            hnsw_params, ef_values, kind)
        main = sweep[(sweep["m"] == m0) & (sweep["ef_construction"] == efc0)]
        ef = choose_ef_search(main, target)
        uses_index = index_used(conn, table, qv[0], ef, dim)
        exact = [pg_exact(conn, table, qv, truth, corpus_size=n)]
        paired = paired_speedup(url, table, qv, ef, dim)
        masks = [corpus.user_ids == u for u in qu]
        user_truth = truth_lists(exact_neighbours(corpus.vectors, qv, allowed=masks))
        filt, found = pg_filtered(conn, table, qv, qu, user_truth, ef, dim=dim)
        foreign = sum(int(corpus.user_ids[i] != u) for ids, u in zip(found, qu, strict=True)
                      for i in ids)
        filt.append({**pg_exact(conn, table, qv, user_truth, users=qu), "iterative_scan": "-"})
        limit = user_rows_limit(settings.retrieval, n)
        large = ivfflat.large_user_queries(np.bincount(corpus.user_ids), qu, limit)
        hnsw_large = ivfflat.hnsw_large_users(conn, table, qv, qu, user_truth, large, ef_values,
                                              m0, efc0, dim) if len(ivf_lists) else []
        filt.append(store_filtered(conn, table, qv, qu, user_truth, ef,
                                   np.bincount(corpus.user_ids), limit, dim))
        # the other index type at the first pair, in place of the headline index
        other = next(t for t in ("vector", "halfvec") if t != kind)
        other_rows, other_build = vector_type_sweep(conn, table, qv, truth, ef_values, m0,
                                                    efc0, other)
        types = [*main.to_dict("records"), *other_rows]
        ivf_rows, ivf_builds = (ivfflat.ivfflat_sweep(
            conn, table, qv, truth, qu, user_truth, large, ivf_lists, ivf_probes, kind, dim)
            if len(ivf_lists) and len(ivf_probes) else ([], []))
        type_builds = [builds.iloc[0].to_dict(), other_build]
        scale_rows = [_scale_row(main, exact[0], ef, n)]
        for size in sorted(set(scale_sizes) - {n}):
            if size > n:
                raise ValueError(f"scale size {size} is larger than the corpus ({n})")
            t_small = f"bench_{size}_{seed}"
            _, sw, tr = measure_size(conn, t_small, corpus.vectors[:size], qv,
                                     corpus.user_ids[:size], [(m0, efc0)], ef_values, kind)
            ex = pg_exact(conn, t_small, qv, tr, corpus_size=size)
            scale_rows.append(_scale_row(sw, ex, choose_ef_search(sw, target), size))
            exact.append(ex)
            if not keep_tables:
                drop_table(conn, t_small)
        if not keep_tables:
            drop_table(conn, table)
    ref_rows, ref_build = hnswlib_sweep(corpus.vectors, qv, truth, m0, efc0, ef_values, seed)
    builds = pd.concat([builds, pd.DataFrame([ref_build])], ignore_index=True)
    sweep = pd.concat([sweep, pd.DataFrame(ref_rows)], ignore_index=True)
    hybrid = pd.DataFrame()
    notes = {"filtered_foreign_rows": str(foreign), "index_used": str(int(uses_index)),
             "ivfflat_large_user_queries": f"{len(large)} queries of users over {limit} chunks"}
    index_builds = pd.concat([builds[builds["engine"] == "pgvector"].assign(index="hnsw"),
                              pd.DataFrame(ivf_builds)], ignore_index=True)
    if hybrid_chunks:
        chunks = min(hybrid_chunks, n)
        name = f"rag_bench_store_{corpus.digest[:10]}_{chunks}"
        store = store_for(services.ensure_database(_server_of(url), name), state_dir,
                          corpus.vectors.shape[1], base=settings)
        try:
            ingest_corpus(store, corpus, chunks)
            present = set(corpus.user_ids[:chunks].tolist())
            keep = [i for i, u in enumerate(qu) if int(u) in present]
            sub = Queries([queries.texts[i] for i in keep], [queries.kinds[i] for i in keep],
                          qu[keep], qv[keep])
            hybrid = pd.DataFrame(store_modes(store, sub, 5, ef, table_chunks=chunks))
            hybrid["chunks"] = chunks
        finally:
            store.close()
    else:
        notes["hybrid"] = "hybrid_chunks = 0: dense vs hybrid not measured"
    return BenchResult(builds=builds, sweep=sweep, exact=pd.DataFrame(exact),
                       filtered=pd.DataFrame(filt), hybrid=hybrid,
                       vector_types=pd.DataFrame(types), vector_type_builds=pd.DataFrame(
                           type_builds), vector_type=kind,
                       scale=pd.DataFrame(scale_rows), recommended_ef_search=ef,
                       index_types=ivfflat.index_types(sweep, hnsw_large, ivf_rows)
                       if ivf_rows else pd.DataFrame(), index_builds=index_builds,
                       main_pair=(m0, efc0), corpus_size=n, paired=paired, notes=notes,
                       default_ef_search=int(settings.retrieval.hnsw_ef_search))


def _server_of(url: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(url, dbname="postgres")


def _scale_row(sweep: pd.DataFrame, exact: dict[str, object], ef: int, n: int) -> dict[str, object]:
    row = sweep.loc[sweep["ef_search"] == ef].iloc[0]
    return {"corpus_size": n, "ef_search": ef, "recall_at_5": row["recall_at_5"],
            "recall_at_10": row["recall_at_10"], "p50_ms": row["p50_ms"],
            "p99_ms": row["p99_ms"], "exact_p50_ms": exact["p50_ms"],
            "speedup_vs_exact": exact["p50_ms"] / row["p50_ms"]}


def to_metrics(result: BenchResult) -> dict[str, object]:
    """The flat metrics that ``record("retrieval", ...)`` stores (headline: the first pair)."""
    m0, efc0 = result.main_pair
    sw = result.sweep
    pg = sw[(sw["engine"] == "pgvector") & (sw["m"] == m0) & (sw["ef_construction"] == efc0)
            & (sw["corpus_size"] == result.corpus_size)]
    at = pg.loc[pg["ef_search"] == result.recommended_ef_search].iloc[0]
    ref = at_recall(sw[sw["engine"] == "hnswlib"], float(at["recall_at_5"]))
    exact = result.exact.loc[result.exact["corpus_size"] == result.corpus_size].iloc[0]
    filt = result.filtered.set_index("iterative_scan")
    hybrid = result.hybrid.set_index("mode") if not result.hybrid.empty else None
    default_ef = result.default_ef_search  # what the service runs with by default
    at_default = pg.loc[pg["ef_search"] == default_ef, "recall_at_5"]
    out: dict[str, object] = {
        "corpus_size": result.corpus_size,
        "recommended_ef_search": result.recommended_ef_search,
        "recall_at_5": at["recall_at_5"], "recall_at_10": at["recall_at_10"],
        # the gated recall figures: at the chosen ef_search recall@5 is >= the target by
        # construction, so its value sits on the threshold; these two have a spread of their own
        "best_recall_at_5": float(pg["recall_at_5"].max()),
        "recall_at_5_default_ef": float(at_default.iloc[0]) if len(at_default) else None,
        "p50_ms": at["p50_ms"], "p95_ms": at["p95_ms"], "p99_ms": at["p99_ms"],
        "qps": at["qps"], "exact_p50_ms": exact["p50_ms"],
        # exact p50 / HNSW p50 at the chosen ef_search, timed interleaved (see paired_speedup)
        "speedup_vs_exact": result.paired.get("speedup", exact["p50_ms"] / at["p50_ms"]),
        "speedup_vs_exact_separate_passes": exact["p50_ms"] / at["p50_ms"],
        "hnswlib_p50_ms": ref["p50_ms"], "hnswlib_ef_search": int(ref["ef_search"]),
        "hnswlib_recall_at_5": ref["recall_at_5"],
        "hnswlib_latency_ratio": at["p50_ms"] / ref["p50_ms"],
        "filtered_recall_at_5": filt.loc["relaxed_order", "recall_at_5"],
        "filtered_recall_at_5_no_iterative": filt.loc["off", "recall_at_5"],
        "filtered_p99_ms": filt.loc["relaxed_order", "p99_ms"],
        # as the store runs it: small users on their own rows (exact), the others by HNSW
        "filtered_recall_at_5_store": filt.loc["store", "recall_at_5"],
        "filtered_p99_ms_store": filt.loc["store", "p99_ms"],
        "filtered_own_rows_share": filt.loc["store", "own_rows_share"],
        "filtered_foreign_rows": int(result.notes.get("filtered_foreign_rows", 0)),
        "index_used": int(result.notes.get("index_used", 0)),
        "index_build_s": result.builds.iloc[0]["build_s"],
        "index_mb": result.builds.iloc[0]["index_mb"],
    }
    out.update(vector_type_metrics(result))
    out.update(ivfflat.metrics(result.index_types, result.index_builds))
    if hybrid is not None:
        out.update(dense_p99_ms=hybrid.loc["dense", "p99_ms"],
                   hybrid_p99_ms=hybrid.loc["hybrid", "p99_ms"],
                   hybrid_p99_ratio=hybrid.loc["hybrid", "p99_ms"] / hybrid.loc["dense", "p99_ms"])
        if "lexical_bm25" in hybrid.index:  # BM25 against ts_rank_cd, same queries, interleaved
            bm25, cd = hybrid.loc["lexical_bm25"], hybrid.loc["lexical_ts_rank_cd"]
            out.update(lexical_bm25_p50_ms=bm25["p50_ms"], lexical_ts_rank_cd_p50_ms=cd["p50_ms"],
                       bm25_vs_ts_rank_cd_p50_ratio=bm25["p50_ms"] / cd["p50_ms"],
                       bm25_vs_ts_rank_cd_p99_ratio=bm25["p99_ms"] / cd["p99_ms"])
        if "hybrid_shared_indexes" in hybrid.index:  # the own-rows lever against its baseline
            shared, own = hybrid.loc["hybrid_shared_indexes"], hybrid.loc["hybrid"]
            out.update(hybrid_shared_indexes_p99_ms=shared["p99_ms"],
                       hybrid_own_rows_p99_speedup=shared["p99_ms"] / own["p99_ms"],
                       hybrid_own_rows_p50_speedup=shared["p50_ms"] / own["p50_ms"])
    else:
        out["hybrid_p99_ratio"] = None
    return out


def vector_type_metrics(result: BenchResult) -> dict[str, object]:
    """Half precision against full at the recommended ef_search (separate passes, each index
    alone on the table)."""
    types, builds = result.vector_types, result.vector_type_builds
    if types.empty:
        return {}
    at = types[types["ef_search"] == result.recommended_ef_search].set_index("vector_type")
    size = builds.set_index("vector_type")["index_mb"]
    half, full = at.loc["halfvec"], at.loc["vector"]
    return {"halfvec_recall_at_5": half["recall_at_5"], "vector_recall_at_5": full["recall_at_5"],
            "halfvec_p50_ms": half["p50_ms"], "vector_p50_ms": full["p50_ms"],
            "halfvec_p99_ms": half["p99_ms"], "vector_p99_ms": full["p99_ms"],
            "halfvec_p50_speedup": full["p50_ms"] / half["p50_ms"],
            "halfvec_p99_speedup": full["p99_ms"] / half["p99_ms"],
            "halfvec_index_mb": size["halfvec"], "vector_index_mb": size["vector"]}


def write_recommended(output_dir: str | Path, result: BenchResult) -> Path:
    """``recommended_settings.env``, with a comment that says whether the target was reached."""
    m0, efc0 = result.main_pair
    note = recommendation_note(number(to_metrics(result)["recall_at_5"]),
                               f"on {result.corpus_size} chunks, m={m0}, ef_construction={efc0}")
    path = Path(output_dir) / "recommended_settings.env"
    path.write_text(recommended_env(result.recommended_ef_search, note))
    return path
