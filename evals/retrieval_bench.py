"""The retrieval benchmark that ``notebooks/02_retrieval_benchmark.ipynb`` shows.

A synthetic corpus (``evals.corpus``) goes into a table of its own in the ``rag_bench``
database of the (embedded) PostgreSQL server. For each HNSW build pair ``(m, ef_construction)``
the index is built (time, ``pg_relation_size``) and a sweep of ``hnsw.ef_search`` is timed
query by query over one connection, with recall@5/@10 against exact neighbours from numpy.
The first pair is the configuration of the headline metrics: its exact sequential scan in
PostgreSQL (same run, index scans off), its per-user filtered search with
``hnsw.iterative_scan`` off and ``relaxed_order``, and the same sweep on hnswlib in process.
Finally the real ``PgVectorStore`` times dense against hybrid search on the corpus with text.

The pure parts (recall of id lists, percentiles, choosing ef_search, the Pareto front, the
latency at a given recall) are small functions tested alone in
``tests/evals/test_retrieval_bench.py``. Latencies are client-side wall times of one query
(execute and fetch) on one connection, so QPS is for one client.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from psycopg import sql

from evals.corpus import Corpus, Queries
from rag_core import services

K = 10  # neighbours fetched per query: recall@5 and recall@10 from the same run
RECALL_TARGET = 0.98
ENV_NAME = "RAG_HNSW_EF_SEARCH"  # rag_core.config.Settings.hnsw_ef_search

# --- pure functions ------------------------------------------------------------------------


def recall_at_k(found: Sequence[Sequence[Any]], truth: Sequence[Sequence[Any]], k: int) -> float:
    """Mean over queries of |found[:k] & truth[:k]| / |truth[:k]| (queries without truth skip)."""
    scores = []
    for got, want in zip(found, truth, strict=True):
        want_k = set(list(want)[:k])
        if want_k:
            scores.append(len(set(list(got)[:k]) & want_k) / len(want_k))
    return float(np.mean(scores)) if scores else float("nan")


def latency_stats(seconds: Sequence[float] | np.ndarray) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds and QPS (one client, back to back) of query timings."""
    arr = np.asarray(seconds, dtype=float)
    if arr.size == 0:
        return {k: float("nan") for k in ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "qps")}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99]) * 1000.0
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
            "mean_ms": float(arr.mean() * 1000.0), "qps": float(arr.size / arr.sum())}


def choose_ef_search(sweep: pd.DataFrame, target: float = RECALL_TARGET,
                     metric: str = "recall_at_5") -> int:
    """The smallest ef_search whose recall reaches ``target``; else the one of best recall."""
    if sweep.empty:
        raise ValueError("no sweep rows to choose from")
    ok = sweep.loc[sweep[metric] >= target]
    if not ok.empty:
        return int(ok["ef_search"].min())
    best = sweep.loc[sweep[metric] == sweep[metric].max()]
    return int(best["ef_search"].min())


def pareto_front(frame: pd.DataFrame, latency: str = "p50_ms",
                 recall: str = "recall_at_5") -> pd.DataFrame:
    """Rows no other row beats on both lower latency and higher recall, by latency."""
    rows = frame.sort_values([latency, recall], ascending=[True, False])
    keep, best = [], -np.inf
    for idx, value in zip(rows.index, rows[recall], strict=True):
        if value > best:
            keep.append(idx)
            best = value
    return rows.loc[keep].reset_index(drop=True)


def at_recall(frame: pd.DataFrame, target: float, latency: str = "p50_ms",
              recall: str = "recall_at_5") -> pd.Series:
    """The fastest row reaching ``target`` recall; else the row of best recall (then fastest)."""
    ok = frame.loc[frame[recall] >= target]
    if ok.empty:
        ok = frame.loc[frame[recall] == frame[recall].max()]
    return ok.sort_values(latency).iloc[0]


def exact_neighbours(base: np.ndarray, queries: np.ndarray, k: int = K,
                     allowed: Sequence[np.ndarray] | None = None, block: int = 128) -> np.ndarray:
    """Row ids of the k best cosine matches per query (unit vectors), best first; -1 pads.

    ``allowed`` (one boolean mask per query) restricts each query to some rows: the truth of a
    per-user filtered search.
    """
    out = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(queries), block):
        sims = queries[start:start + block] @ base.T
        if allowed is not None:
            for j in range(sims.shape[0]):
                sims[j, ~allowed[start + j]] = -np.inf
        kk = min(k, base.shape[0])
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
        ranked = np.take_along_axis(top, order, axis=1)
        valid = np.take_along_axis(sims, ranked, axis=1) > -np.inf
        out[start:start + len(ranked), :kk] = np.where(valid, ranked, -1)
    return out


def truth_lists(ids: np.ndarray) -> list[list[int]]:
    return [[int(i) for i in row if i >= 0] for row in ids]


def recommended_env(ef_search: int, note: str = "") -> str:
    """The text of ``recommended_settings.env`` (read by Settings as RAG_HNSW_EF_SEARCH)."""
    head = f"# recommended by the retrieval benchmark{': ' + note if note else ''}\n"
    return f"{head}{ENV_NAME}={int(ef_search)}\n"


# --- PostgreSQL ----------------------------------------------------------------------------

BENCH_DB = "rag_bench"


def bench_settings(state_dir: str | Path | None = None, **extra: Any) -> Any:
    """ci-profile Settings on the project's state folder, as the quality notebook builds them
    (built here: importing ``evals.quality`` pulls in ragas, seconds of import)."""
    from evals.paths import STATE_DIR
    from rag_core.config import Settings

    return Settings(profile="ci", state_dir=Path(state_dir) if state_dir else STATE_DIR,
                    cache_enabled=False, semantic_cache_enabled=False, **extra)


def server_url(state_dir: str | Path | None = None) -> str:
    """The URL of the (embedded, started if needed) PostgreSQL, as the quality notebook's."""

    settings = services.resolve(bench_settings(state_dir))
    assert settings.database_url
    return settings.database_url


def connect(url: str) -> Any:
    import psycopg
    from pgvector.psycopg import register_vector

    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    return conn


def set_option(conn: Any, name: str, value: Any) -> None:
    conn.execute("SELECT set_config(%s, %s, false)", (name, str(value)))


def load_table(conn: Any, table: str, vectors: np.ndarray, user_ids: np.ndarray) -> None:
    """(Re)create ``table (id, user_id, embedding)`` and COPY the vectors in (binary)."""
    t = sql.Identifier(table)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(t))
    conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, user_id integer NOT NULL, "
                         "embedding vector({})) ").format(t, sql.Literal(vectors.shape[1])))
    with conn.cursor() as cur, cur.copy(sql.SQL(
            "COPY {} (id, user_id, embedding) FROM STDIN WITH (FORMAT BINARY)").format(t)) as cp:
        cp.set_types(["int4", "int4", "vector"])
        for i, (u, v) in enumerate(zip(user_ids, vectors, strict=True)):
            cp.write_row((i, int(u), v))
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(t))


def drop_table(conn: Any, table: str) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


def build_index(conn: Any, table: str, m: int, ef_construction: int) -> dict[str, Any]:
    """Drop any HNSW index of ``table``, build one; its build seconds and size in MB."""
    index = f"{table}_hnsw"
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(index)))
    set_option(conn, "maintenance_work_mem", "1GB")
    set_option(conn, "max_parallel_maintenance_workers", 0)  # one core: others share the box
    start = time.perf_counter()
    conn.execute(sql.SQL(
        "CREATE INDEX {} ON {} USING hnsw (embedding vector_cosine_ops) "
        "WITH (m = {}, ef_construction = {})").format(
        sql.Identifier(index), sql.Identifier(table), sql.Literal(int(m)),
        sql.Literal(int(ef_construction))))
    seconds = time.perf_counter() - start
    size = conn.execute("SELECT pg_relation_size(%s::regclass)", (index,)).fetchone()[0]
    return {"m": m, "ef_construction": ef_construction, "build_s": seconds,
            "index_mb": size / 2**20}


def _knn_sql(table: str, filtered: bool) -> sql.Composed:
    """Top-k by cosine distance; the filtered form is the store's: a materialised CTE."""
    if not filtered:
        return sql.SQL("SELECT id FROM {} ORDER BY embedding <=> %(q)s LIMIT %(k)s").format(
            sql.Identifier(table))
    return sql.SQL(
        "WITH d AS MATERIALIZED (SELECT id, embedding <=> %(q)s AS distance FROM {} "
        "WHERE user_id = %(u)s ORDER BY distance LIMIT %(k)s) "
        "SELECT id FROM d ORDER BY distance").format(sql.Identifier(table))


def time_queries(conn: Any, statement: sql.Composed, vectors: np.ndarray,
                 users: np.ndarray | None = None, k: int = K
                 ) -> tuple[list[list[int]], np.ndarray]:
    """Run the statement once per query vector; ids found and seconds per query."""
    found, seconds = [], np.empty(len(vectors))
    for i, vec in enumerate(vectors):
        params: dict[str, Any] = {"q": vec, "k": k}
        if users is not None:
            params["u"] = int(users[i])
        start = time.perf_counter()
        rows = conn.execute(statement, params, prepare=True).fetchall()
        seconds[i] = time.perf_counter() - start
        found.append([r[0] for r in rows])
    return found, seconds


def _row(found: list[list[int]], truth: list[list[int]], seconds: np.ndarray,
         **extra: Any) -> dict[str, Any]:
    return {**extra, "recall_at_5": recall_at_k(found, truth, 5),
            "recall_at_10": recall_at_k(found, truth, 10), **latency_stats(seconds)}


def hnsw_mode(conn: Any, ef_search: int, iterative: str = "off",
              max_scan_tuples: int = 20_000) -> None:
    """Session settings of an index search (seq scans off so that the index is always used)."""
    set_option(conn, "enable_seqscan", "off")
    set_option(conn, "enable_indexscan", "on")
    set_option(conn, "hnsw.ef_search", ef_search)
    set_option(conn, "hnsw.iterative_scan", iterative)
    set_option(conn, "hnsw.max_scan_tuples", max(max_scan_tuples, ef_search))


def exact_mode(conn: Any) -> None:
    """Session settings of an exact search: no index scans, a sequential scan and a sort."""
    set_option(conn, "enable_seqscan", "on")
    set_option(conn, "enable_indexscan", "off")
    set_option(conn, "enable_bitmapscan", "off")


def pg_sweep(conn: Any, table: str, queries: np.ndarray, truth: list[list[int]],
             ef_values: Iterable[int], **extra: Any) -> list[dict[str, Any]]:
    stmt = _knn_sql(table, filtered=False)
    hnsw_mode(conn, max(ef_values))
    time_queries(conn, stmt, queries)  # warm-up: index pages into the caches
    rows = []
    for ef in ef_values:
        hnsw_mode(conn, ef)
        found, secs = time_queries(conn, stmt, queries)
        rows.append(_row(found, truth, secs, engine="pgvector", ef_search=ef, **extra))
    return rows


def index_used(conn: Any, table: str, query: np.ndarray, ef_search: int) -> bool:
    """Whether the plan of the timed HNSW query (same session settings) scans the table's HNSW
    index: the deterministic form of what ``speedup_vs_exact`` measures with a clock."""
    hnsw_mode(conn, ef_search)
    plan = conn.execute(sql.SQL("EXPLAIN ") + _knn_sql(table, filtered=False),
                        {"q": query, "k": K}).fetchall()
    return f"{table}_hnsw" in " ".join(str(row[0]) for row in plan)


def pg_exact(conn: Any, table: str, queries: np.ndarray, truth: list[list[int]],
             users: np.ndarray | None = None, **extra: Any) -> dict[str, Any]:
    exact_mode(conn)
    stmt = _knn_sql(table, filtered=users is not None)
    found, secs = time_queries(conn, stmt, queries, users)
    set_option(conn, "enable_indexscan", "on")
    set_option(conn, "enable_bitmapscan", "on")
    return _row(found, truth, secs, engine="pgvector-exact", **extra)


def paired_speedup(url: str, table: str, queries: np.ndarray, ef_search: int
                   ) -> dict[str, float]:
    """HNSW and exact latency measured query by query in turn, on two connections.

    Interleaving puts both under the same load at the same moments, so their ratio holds on a
    shared machine where two separate passes would each meet different load.
    """
    stmt = _knn_sql(table, filtered=False)
    with connect(url) as ch, connect(url) as ce:
        hnsw_mode(ch, ef_search)
        exact_mode(ce)
        times: dict[str, list[float]] = {"hnsw": [], "exact": []}
        for warm in (True, False):
            for vec in queries[: 20 if warm else len(queries)]:
                for key, conn in (("hnsw", ch), ("exact", ce)):
                    start = time.perf_counter()
                    conn.execute(stmt, {"q": vec, "k": K}, prepare=True).fetchall()
                    if not warm:
                        times[key].append(time.perf_counter() - start)
    hnsw, exact = latency_stats(times["hnsw"]), latency_stats(times["exact"])
    return {"ef_search": ef_search, "hnsw_p50_ms": hnsw["p50_ms"],
            "exact_p50_ms": exact["p50_ms"], "exact_p99_ms": exact["p99_ms"],
            "speedup": exact["p50_ms"] / hnsw["p50_ms"]}


def pg_filtered(conn: Any, table: str, queries: np.ndarray, users: np.ndarray,
                truth: list[list[int]], ef_search: int, max_scan_tuples: int = 20_000
                ) -> tuple[list[dict[str, Any]], list[list[int]]]:
    """Per-user search at ``ef_search`` with iterative scans off and relaxed_order."""
    stmt = _knn_sql(table, filtered=True)
    rows: list[dict[str, Any]] = []
    last: list[list[int]] = []
    for mode in ("off", "relaxed_order"):
        hnsw_mode(conn, ef_search, mode, max_scan_tuples)
        found, secs = time_queries(conn, stmt, queries, users)
        rows.append(_row(found, truth, secs, engine="pgvector", iterative_scan=mode,
                         ef_search=ef_search))
        last = found
    return rows, last


# --- hnswlib, the in-process reference -----------------------------------------------------


def hnswlib_sweep(base: np.ndarray, queries: np.ndarray, truth: list[list[int]], m: int,
                  ef_construction: int, ef_values: Iterable[int], seed: int = 0
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
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


# --- the real store: dense against hybrid --------------------------------------------------


def store_for(url: str, state_dir: str | Path | None = None, dim: int = 384) -> Any:
    from rag_core.store.pgvector import PgVectorStore

    store = PgVectorStore(bench_settings(state_dir, database_url=url, embedding_dim=dim))
    store.ensure_schema()
    return store


def ingest_corpus(store: Any, corpus: Corpus, n: int, progress: bool = True) -> int:
    """The first ``n`` chunks as notes of the store (idempotent: unchanged notes are skipped)."""
    from rag_core.chunking import content_hash
    from rag_core.store.base import ChunkDraft
    from rag_core.types import Note

    assert corpus.vectors is not None
    note_ids = corpus.note_ids[:n]
    starts = np.flatnonzero(np.r_[True, note_ids[1:] != note_ids[:-1]])
    bounds = list(zip(starts, np.r_[starts[1:], len(note_ids)], strict=True))
    if progress:
        from tqdm.std import tqdm

        bounds = tqdm(bounds, desc="store ingest", file=sys.stderr, mininterval=5.0, ncols=90)
    written = 0
    for lo, hi in bounds:
        meta = corpus.notes[int(note_ids[lo])]
        texts = corpus.texts[lo:hi]
        note = Note(id=f"n{int(note_ids[lo])}", title=meta["title"], body="\n\n".join(texts),
                    speaker=meta["speaker"], series=meta["series"], tags=tuple(meta["tags"]),
                    scripture=tuple(meta["scripture"]))
        drafts = [ChunkDraft(i, t, content_hash(t)) for i, t in enumerate(texts)]
        result = store.upsert_note(f"u{meta['user']}", note, content_hash(note.body + repr(meta)),
                                   drafts, corpus.vectors[lo:hi])
        written += result.chunks_written
    return written


def store_dense_vs_hybrid(store: Any, queries: Queries, top_k: int, ef_search: int
                          ) -> list[dict[str, Any]]:
    """Dense and hybrid searches of the same queries, interleaved; one row per mode."""
    assert queries.vectors is not None
    from rag_core.store.base import SearchParams

    times: dict[str, list[float]] = {"dense": [], "hybrid": []}
    params = {m: SearchParams(mode=m, ef_search=ef_search) for m in ("dense", "hybrid")}
    for warm in (True, False):
        for text, vec, user in zip(queries.texts, queries.vectors, queries.user_ids, strict=True):
            for mode in ("dense", "hybrid"):
                start = time.perf_counter()
                store.search(f"u{int(user)}", vec, top_k, query_text=text,
                             params=params[mode])
                if not warm:
                    times[mode].append(time.perf_counter() - start)
    return [{"mode": m, "ef_search": ef_search, **latency_stats(t)} for m, t in times.items()]


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


def measure_size(conn: Any, table: str, base: np.ndarray, queries: np.ndarray,
                 user_ids: np.ndarray, pairs: Sequence[Sequence[int]], ef_values: Sequence[int],
                 ) -> tuple[pd.DataFrame, pd.DataFrame, list[list[int]]]:
    """Load, and per pair build + sweep; the index of the first pair is left in place."""
    truth = truth_lists(exact_neighbours(base, queries))
    load_table(conn, table, base, user_ids)
    builds, rows = [], []
    for m, efc in reversed([tuple(p) for p in pairs]):  # first pair last: its index stays
        builds.append({**build_index(conn, table, m, efc), "engine": "pgvector"})
        rows += pg_sweep(conn, table, queries, truth, ef_values, m=m, ef_construction=efc,
                         corpus_size=len(base))
    return pd.DataFrame(builds[::-1]), pd.DataFrame(rows), truth


def run_benchmark(corpus: Corpus, queries: Queries, ef_values: Sequence[int],
                  hnsw_params: Sequence[Sequence[int]], *, seed: int = 0,
                  state_dir: str | Path | None = None, hybrid_chunks: int = 0,
                  scale_sizes: Sequence[int] = (), url: str | None = None,
                  keep_tables: bool = False, target: float = RECALL_TARGET) -> BenchResult:
    """Everything the notebook shows, on ``corpus`` (embedded) and ``queries`` (embedded)."""
    assert corpus.vectors is not None and queries.vectors is not None
    url = url or services.ensure_database(server_url(state_dir), BENCH_DB)
    ef_values = sorted({int(e) for e in ef_values})
    m0, efc0 = (int(x) for x in hnsw_params[0])
    n = len(corpus)
    qv, qu = queries.vectors, queries.user_ids
    table = f"bench_{n}_{seed}"
    with connect(url) as conn:
        builds, sweep, truth = measure_size(conn, table, corpus.vectors, qv, corpus.user_ids,
                                            hnsw_params, ef_values)
        main = sweep[(sweep["m"] == m0) & (sweep["ef_construction"] == efc0)]
        ef = choose_ef_search(main, target)
        uses_index = index_used(conn, table, qv[0], ef)
        exact = [pg_exact(conn, table, qv, truth, corpus_size=n)]
        paired = paired_speedup(url, table, qv, ef)
        masks = [corpus.user_ids == u for u in qu]
        user_truth = truth_lists(exact_neighbours(corpus.vectors, qv, allowed=masks))
        filt, found = pg_filtered(conn, table, qv, qu, user_truth, ef)
        foreign = sum(int(corpus.user_ids[i] != u) for ids, u in zip(found, qu, strict=True)
                      for i in ids)
        filt.append({**pg_exact(conn, table, qv, user_truth, users=qu), "iterative_scan": "-"})
        scale_rows = [_scale_row(main, exact[0], ef, n)]
        for size in sorted(set(scale_sizes) - {n}):
            if size > n:
                raise ValueError(f"scale size {size} is larger than the corpus ({n})")
            t_small = f"bench_{size}_{seed}"
            _, sw, tr = measure_size(conn, t_small, corpus.vectors[:size], qv,
                                     corpus.user_ids[:size], [(m0, efc0)], ef_values)
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
    notes = {"filtered_foreign_rows": str(foreign), "index_used": str(int(uses_index))}
    if hybrid_chunks:
        chunks = min(hybrid_chunks, n)
        name = f"rag_bench_store_{corpus.digest[:10]}_{chunks}"
        store = store_for(services.ensure_database(_server_of(url), name), state_dir,
                          corpus.vectors.shape[1])
        try:
            ingest_corpus(store, corpus, chunks)
            present = set(corpus.user_ids[:chunks].tolist())
            keep = [i for i, u in enumerate(qu) if int(u) in present]
            sub = Queries([queries.texts[i] for i in keep], [queries.kinds[i] for i in keep],
                          qu[keep], qv[keep])
            hybrid = pd.DataFrame(store_dense_vs_hybrid(store, sub, 5, ef))
            hybrid["chunks"] = chunks
        finally:
            store.close()
    else:
        notes["hybrid"] = "hybrid_chunks = 0: dense vs hybrid not measured"
    return BenchResult(builds=builds, sweep=sweep, exact=pd.DataFrame(exact),
                       filtered=pd.DataFrame(filt), hybrid=hybrid,
                       scale=pd.DataFrame(scale_rows), recommended_ef_search=ef,
                       main_pair=(m0, efc0), corpus_size=n, paired=paired, notes=notes)


def _server_of(url: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(url, dbname="postgres")


def _scale_row(sweep: pd.DataFrame, exact: dict[str, Any], ef: int, n: int) -> dict[str, Any]:
    row = sweep.loc[sweep["ef_search"] == ef].iloc[0]
    return {"corpus_size": n, "ef_search": ef, "recall_at_5": row["recall_at_5"],
            "recall_at_10": row["recall_at_10"], "p50_ms": row["p50_ms"],
            "p99_ms": row["p99_ms"], "exact_p50_ms": exact["p50_ms"],
            "speedup_vs_exact": exact["p50_ms"] / row["p50_ms"]}


def to_metrics(result: BenchResult) -> dict[str, Any]:
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
    default_ef = bench_settings().hnsw_ef_search  # what the service runs with by default
    at_default = pg.loc[pg["ef_search"] == default_ef, "recall_at_5"]
    out: dict[str, Any] = {
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
        "filtered_foreign_rows": int(result.notes.get("filtered_foreign_rows", 0)),
        "index_used": int(result.notes.get("index_used", 0)),
        "index_build_s": result.builds.iloc[0]["build_s"],
        "index_mb": result.builds.iloc[0]["index_mb"],
    }
    if hybrid is not None:
        out.update(dense_p99_ms=hybrid.loc["dense", "p99_ms"],
                   hybrid_p99_ms=hybrid.loc["hybrid", "p99_ms"],
                   hybrid_p99_ratio=hybrid.loc["hybrid", "p99_ms"] / hybrid.loc["dense", "p99_ms"])
    else:
        out["hybrid_p99_ratio"] = None
    return out


def write_recommended(output_dir: str | Path, result: BenchResult) -> Path:
    m0, efc0 = result.main_pair
    path = Path(output_dir) / "recommended_settings.env"
    path.write_text(recommended_env(
        result.recommended_ef_search,
        f"smallest ef_search with recall@5 >= {RECALL_TARGET} on {result.corpus_size} chunks, "
        f"m={m0}, ef_construction={efc0}"))
    return path
