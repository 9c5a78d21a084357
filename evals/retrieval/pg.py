"""The PostgreSQL side of the retrieval benchmark: benchmark tables of (id, user_id,
embedding), HNSW builds, ef_search sweeps, exact scans, per-user filtered search.

The queries are the store's: ``rag_core.store.sql.knn_scan`` / ``knn_ids`` on the benchmark's
tables, so the benchmark keeps measuring the real dense scan.  Latencies are client-side wall
times of one query (execute and fetch) on one connection, so QPS is for one client.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from psycopg import Connection, sql
from psycopg.rows import TupleRow

from evals.datasets.arrays import Ids, Seconds, Vectors
from evals.retrieval.stats import K, latency_stats, recall_at_k
from rag_core import services
from rag_core.config import Settings
from rag_core.store import sql as q

BENCH_DB = "rag_bench"


# What the retrieval notebook fixes (its ``settings`` parameter changes any other field).
BENCH_HARNESS = {"profile": "ci", "cache_enabled": False, "semantic_cache_enabled": False}

Conn = Connection[TupleRow]  # an autocommit psycopg connection, rows as tuples


def bench_settings(state_dir: str | Path | None = None,
                   **extra: object) -> Settings:  # Settings fields of every type
    """ci-profile Settings on the harness's state folder (``$RAG_STATE_DIR`` when set, else the
    project's ``.rag_state``), as the quality notebook builds them (built here: importing
    ``evals.quality.evaluate`` pulls in ragas, seconds of import)."""
    from evals.knobs import harness_state_dir

    return Settings.from_fields({**BENCH_HARNESS,
                                 "state_dir": Path(state_dir) if state_dir else harness_state_dir(),
                                 **extra})


def server_url(state_dir: str | Path | None = None) -> str:
    """The URL of the (embedded, started if needed) PostgreSQL, as the quality notebook's."""

    settings = services.resolve(bench_settings(state_dir))
    assert settings.services.database_url
    return settings.services.database_url


def connect(url: str) -> Conn:
    import psycopg
    from pgvector.psycopg import register_vector

    conn = psycopg.connect(url, autocommit=True)
    register_vector(conn)
    return conn


def set_option(conn: Conn, name: str, value: object) -> None:
    conn.execute("SELECT set_config(%s, %s, false)", (name, str(value)))


def load_table(conn: Conn, table: str, vectors: Vectors, user_ids: Ids) -> None:
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


def drop_table(conn: Conn, table: str) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


def halfvec_dim(vector_type: str, vectors: Vectors) -> int | None:
    """What ``knn_scan`` needs to order by the index of ``vector_type`` (``halfvec``: the
    dimension of its expression)."""
    return int(vectors.shape[-1]) if vector_type == "halfvec" else None


def build_index(conn: Conn, table: str, m: int, ef_construction: int,
                vector_type: str = "vector", dim: int | None = None,
                index: str | None = None) -> dict[str, object]:
    """Drop ``index`` (default ``<table>_hnsw``) and build it again with the store's DDL
    (``rag_core.store.sql.create_hnsw_index``); its build seconds and size in MB."""
    index = index or f"{table}_hnsw"
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(index)))
    set_option(conn, "maintenance_work_mem", "1GB")
    set_option(conn, "max_parallel_maintenance_workers", 0)  # one core: others share the box
    start = time.perf_counter()
    conn.execute(q.create_hnsw_index(m, ef_construction, vector_type, dim, name=index,
                                     table=table))
    seconds = time.perf_counter() - start
    row = conn.execute("SELECT pg_relation_size(%s::regclass)", (index,)).fetchone()
    assert row is not None  # one row: the size of an index that exists
    size = row[0]
    return {"m": m, "ef_construction": ef_construction, "vector_type": vector_type,
            "build_s": seconds, "index_mb": size / 2**20}


def _knn_sql(table: str, filtered: bool, dim: int | None = None) -> sql.Composed:
    """The store's own dense scan (``rag_core.store.sql.knn_scan``) on a benchmark table: per
    user with the store's materialised CTE, or over the whole table (the raw index); ``dim``:
    ordered by the halfvec index's expression."""
    if filtered:
        return q.knn_ids(table, "id", per_user=True, halfvec_dim=dim)
    return q.knn_scan(table, ("id",), per_user=False, halfvec_dim=dim)


def time_queries(conn: Conn, statement: sql.Composed, vectors: Vectors,
                 users: Ids | None = None, k: int = K
                 ) -> tuple[list[list[int]], Seconds]:
    """Run the statement once per query vector; ids found and seconds per query."""
    found, seconds = [], np.empty(len(vectors))
    for i, vec in enumerate(vectors):
        params: dict[str, object] = {"embedding": vec, "k": k}
        if users is not None:
            params["user_id"] = int(users[i])
        start = time.perf_counter()
        rows = conn.execute(statement, params, prepare=True).fetchall()
        seconds[i] = time.perf_counter() - start
        found.append([r[0] for r in rows])
    return found, seconds


def _row(found: list[list[int]], truth: list[list[int]], seconds: Seconds,
         **extra: object) -> dict[str, object]:
    return {**extra, "recall_at_5": recall_at_k(found, truth, 5),
            "recall_at_10": recall_at_k(found, truth, 10), **latency_stats(seconds)}


def hnsw_mode(conn: Conn, ef_search: int, iterative: str = "off",
              max_scan_tuples: int = 20_000) -> None:
    """Session settings of an index search (seq scans off so that the index is always used)."""
    set_option(conn, "enable_seqscan", "off")
    set_option(conn, "enable_indexscan", "on")
    set_option(conn, "hnsw.ef_search", ef_search)
    set_option(conn, "hnsw.iterative_scan", iterative)
    set_option(conn, "hnsw.max_scan_tuples", max(max_scan_tuples, ef_search))


def exact_mode(conn: Conn) -> None:
    """Session settings of an exact search: no index scans, a sequential scan and a sort."""
    set_option(conn, "enable_seqscan", "on")
    set_option(conn, "enable_indexscan", "off")
    set_option(conn, "enable_bitmapscan", "off")


def pg_sweep(conn: Conn, table: str, queries: Vectors, truth: list[list[int]],
             ef_values: Iterable[int], dim: int | None = None, **extra: object
             ) -> list[dict[str, object]]:
    stmt = _knn_sql(table, filtered=False, dim=dim)
    hnsw_mode(conn, max(ef_values))
    time_queries(conn, stmt, queries)  # warm-up: index pages into the caches
    rows = []
    for ef in ef_values:
        hnsw_mode(conn, ef)
        found, secs = time_queries(conn, stmt, queries)
        rows.append(_row(found, truth, secs, engine="pgvector", ef_search=ef, **extra))
    return rows


def index_used(conn: Conn, table: str, query: Vectors, ef_search: int,
               dim: int | None = None) -> bool:
    """Whether the plan of the timed HNSW query (same session settings) scans the table's HNSW
    index: the deterministic form of what ``speedup_vs_exact`` measures with a clock."""
    hnsw_mode(conn, ef_search)
    plan = conn.execute(sql.SQL("EXPLAIN ") + _knn_sql(table, filtered=False, dim=dim),
                        {"embedding": query, "k": K}).fetchall()
    return f"{table}_hnsw" in " ".join(str(row[0]) for row in plan)


def pg_exact(conn: Conn, table: str, queries: Vectors, truth: list[list[int]],
             users: Ids | None = None, **extra: object) -> dict[str, object]:
    exact_mode(conn)
    stmt = _knn_sql(table, filtered=users is not None)
    found, secs = time_queries(conn, stmt, queries, users)
    set_option(conn, "enable_indexscan", "on")
    set_option(conn, "enable_bitmapscan", "on")
    return _row(found, truth, secs, engine="pgvector-exact", **extra)


def paired_speedup(url: str, table: str, queries: Vectors, ef_search: int,
                   dim: int | None = None) -> dict[str, float]:
    """HNSW and exact latency measured query by query in turn, on two connections.

    Interleaving puts both under the same load at the same moments, so their ratio holds on a
    shared machine where two separate passes would each meet different load.
    """
    stmts = {"hnsw": _knn_sql(table, filtered=False, dim=dim),
             "exact": _knn_sql(table, filtered=False)}  # exact: in full precision
    with connect(url) as ch, connect(url) as ce:
        hnsw_mode(ch, ef_search)
        exact_mode(ce)
        times: dict[str, list[float]] = {"hnsw": [], "exact": []}
        for warm in (True, False):
            for vec in queries[: 20 if warm else len(queries)]:
                for key, conn in (("hnsw", ch), ("exact", ce)):
                    start = time.perf_counter()
                    conn.execute(stmts[key], {"embedding": vec, "k": K}, prepare=True).fetchall()
                    if not warm:
                        times[key].append(time.perf_counter() - start)
    hnsw, exact = latency_stats(times["hnsw"]), latency_stats(times["exact"])
    return {"ef_search": ef_search, "hnsw_p50_ms": hnsw["p50_ms"],
            "exact_p50_ms": exact["p50_ms"], "exact_p99_ms": exact["p99_ms"],
            "speedup": exact["p50_ms"] / hnsw["p50_ms"]}


def pg_filtered(conn: Conn, table: str, queries: Vectors, users: Ids,
                truth: list[list[int]], ef_search: int, max_scan_tuples: int = 20_000,
                dim: int | None = None) -> tuple[list[dict[str, object]], list[list[int]]]:
    """Per-user search at ``ef_search`` with iterative scans off and relaxed_order."""
    stmt = _knn_sql(table, filtered=True, dim=dim)
    rows: list[dict[str, object]] = []
    last: list[list[int]] = []
    for mode in ("off", "relaxed_order"):
        hnsw_mode(conn, ef_search, mode, max_scan_tuples)
        found, secs = time_queries(conn, stmt, queries, users)
        rows.append(_row(found, truth, secs, engine="pgvector", iterative_scan=mode,
                         ef_search=ef_search))
        last = found
    return rows, last


def store_filtered(conn: Conn, table: str, queries: Vectors, users: Ids,
                   truth: list[list[int]], ef_search: int, user_chunks: Ids,
                   max_chunks: int, dim: int | None = None) -> dict[str, object]:
    """Per-user search as the store runs it (``rag_core.store.searching``): a user with at
    most ``max_chunks`` chunks on their own rows (exact), a larger one by the store's shared
    statement, planned as the store's is (seq scans allowed, a ``user_id`` index beside HNSW,
    relaxed_order iterative scans). ``user_chunks[u]``: user u's number of chunks."""
    stmts = {own: q.knn_ids(table, "id", per_user=True, user_rows=own,
                            halfvec_dim=None if own else dim) for own in (True, False)}
    index = sql.Identifier(f"{table}_user_idx")
    conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (user_id)").format(
        index, sql.Identifier(table)))
    conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    hnsw_mode(conn, ef_search, "relaxed_order")
    set_option(conn, "enable_seqscan", "on")
    found, seconds, own = [], np.empty(len(queries)), 0
    try:
        for i, (vec, user) in enumerate(zip(queries, users, strict=True)):
            small = bool(user_chunks[int(user)] <= max_chunks)
            own += small
            start = time.perf_counter()
            rows = conn.execute(stmts[small], {"embedding": vec, "k": K, "user_id": int(user)},
                                prepare=True).fetchall()
            seconds[i] = time.perf_counter() - start
            found.append([r[0] for r in rows])
    finally:
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(index))
    return _row(found, truth, seconds, engine="pgvector", iterative_scan="store",
                ef_search=ef_search, own_rows_share=own / max(len(queries), 1))


def vector_type_sweep(conn: Conn, table: str, queries: Vectors, truth: list[list[int]],
                      ef_values: Iterable[int], m: int, ef_construction: int, vector_type: str
                      ) -> tuple[list[dict[str, object]], dict[str, object]]:
    """The sweep on an index of ``vector_type`` in place of the table's ``<table>_hnsw`` (the
    table's last step: its index is dropped), alone: two indexes at once would compete for
    shared_buffers, which at 100k chunks made both two to three times slower than alone.
    The rows and the build; the index is dropped at the end."""
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(f"{table}_hnsw")))
    dim = halfvec_dim(vector_type, queries)
    build = {**build_index(conn, table, m, ef_construction, vector_type, dim),
             "engine": "pgvector"}
    rows = pg_sweep(conn, table, queries, truth, ef_values, dim, vector_type=vector_type, m=m,
                    ef_construction=ef_construction)
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(f"{table}_hnsw")))
    return rows, build
