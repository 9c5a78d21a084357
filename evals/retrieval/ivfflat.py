"""IVFFlat beside HNSW on the benchmark's table (notebook 02): pgvector's two index types.

The service keeps HNSW (``rag_core.store.sql.hnsw``); this module builds IVFFlat indexes on the
benchmark's own table for the question an engineer tuning the service asks: would IVFFlat's
faster build and smaller index do for this corpus? For each ``lists`` the index is built alone
(the table's HNSW index is dropped before: two indexes at once compete for shared buffers), of
the same vector type as the headline HNSW index, with its build time and size; then
``ivfflat.probes`` is swept, timed query by query as the HNSW sweep is, with recall@5/@10
against exact neighbours, over the whole table and per user for the users whose chunks exceed
the store's own-rows limit (``RAG_USER_SCAN_MAX_CHUNKS``, grown with the table: those are the
users whose search reaches the index). The per-user search is the store's statement
(``knn_ids``) with ``ivfflat.iterative_scan = relaxed_order`` where the installed pgvector has
it (0.8 and later), as HNSW's filtered search runs with ``hnsw.iterative_scan``.

Pure parts (``large_user_queries``, ``compare_at_recall``, ``when_ivfflat``) are tested alone
in ``tests/evals/test_ivfflat.py``; the PostgreSQL parts on the embedded server there too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from psycopg import sql

from evals.datasets.arrays import Ids, Vectors
from evals.retrieval.pg import Conn, _knn_sql, _row, hnsw_mode, set_option, time_queries
from evals.retrieval.stats import RECALL_TARGET

ENGINE = "pgvector-ivfflat"
ITERATIVE_SINCE = (0, 8)  # pgvector's first version with ivfflat.iterative_scan
COMPARE_COLUMNS = ["index", "setting", "reached", "every_list", "recall_at_5", "recall_at_10",
                   "p50_ms", "p99_ms", "build_s", "index_mb"]


def pgvector_version(conn: Conn) -> tuple[int, ...]:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    if row is None:
        return ()
    return tuple(int(part) for part in str(row[0]).split(".") if part.isdigit())


def has_iterative_scan(version: tuple[int, ...]) -> bool:
    return bool(version) and version[:2] >= ITERATIVE_SINCE


def create_ivfflat_index(table: str, lists: int, vector_type: str = "vector",
                         dim: int | None = None, name: str | None = None) -> sql.Composed:
    """The IVFFlat index of ``table``'s embedding, on the same expression as the HNSW index of
    ``vector_type`` (``halfvec``: ``embedding::halfvec(dim)``), so that the store's scan
    (``knn_scan``) orders by it."""
    expression: sql.Composable
    if vector_type == "halfvec":
        if not dim:
            raise ValueError("a halfvec index needs the vector dimension")
        expression = sql.SQL("(embedding::halfvec({d})) halfvec_cosine_ops").format(
            d=sql.Literal(int(dim)))
    elif vector_type == "vector":
        expression = sql.SQL("embedding vector_cosine_ops")
    else:
        raise ValueError(f"unknown vector type {vector_type!r}")
    return sql.SQL("CREATE INDEX {name} ON {table} USING ivfflat ({expression}) "
                   "WITH (lists = {lists})").format(
        name=sql.Identifier(name or f"{table}_ivfflat"), table=sql.Identifier(table),
        expression=expression, lists=sql.Literal(int(lists)))


def build_ivfflat(conn: Conn, table: str, lists: int, vector_type: str = "vector",
                  dim: int | None = None) -> dict[str, object]:
    """(Re)build ``<table>_ivfflat`` with ``lists`` lists, on one core as HNSW's builds are;
    its build seconds (k-means and the assignment) and size in MB."""
    name = f"{table}_ivfflat"
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))
    set_option(conn, "maintenance_work_mem", "1GB")
    set_option(conn, "max_parallel_maintenance_workers", 0)
    start = time.perf_counter()
    conn.execute(create_ivfflat_index(table, lists, vector_type, dim, name))
    seconds = time.perf_counter() - start
    row = conn.execute("SELECT pg_relation_size(%s::regclass)", (name,)).fetchone()
    assert row is not None
    return {"engine": ENGINE, "index": "ivfflat", "lists": int(lists),
            "vector_type": vector_type, "build_s": seconds, "index_mb": row[0] / 2**20}


def ivfflat_mode(conn: Conn, probes: int, iterative: str | None = None) -> None:
    """Session settings of an IVFFlat search (seq scans off so that the index is used);
    ``iterative``: ``ivfflat.iterative_scan`` (None: a pgvector without it, left unset)."""
    set_option(conn, "enable_seqscan", "off")
    set_option(conn, "enable_indexscan", "on")
    set_option(conn, "ivfflat.probes", probes)
    if iterative is not None:
        set_option(conn, "ivfflat.iterative_scan", iterative)


def large_user_queries(user_chunks: Ids, users: Ids, limit: int) -> Ids:
    """Positions of the queries whose user has more than ``limit`` chunks: the users the store
    searches through the vector index (at or under it: on their own rows, exactly)."""
    counts = np.asarray(user_chunks)
    return np.array([i for i, u in enumerate(users) if int(u) < len(counts)
                     and counts[int(u)] > limit], dtype=np.int64)


def ivfflat_sweep(conn: Conn, table: str, queries: Vectors, truth: list[list[int]],
                  users: Ids, user_truth: list[list[int]], large: Ids,
                  lists_values: Sequence[int], probes_values: Sequence[int],
                  vector_type: str = "vector", dim: int | None = None,
                  ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Per ``lists``: build, then each ``probes`` over the whole table and per large user.
    The table's HNSW index must be gone (``vector_type_sweep`` drops it); the last IVFFlat
    index is dropped at the end. Rows (``filtered`` False/True) and builds."""
    supported = has_iterative_scan(pgvector_version(conn))
    plain, iterative = ("off", "relaxed_order") if supported else (None, None)
    whole, per_user = _knn_sql(table, filtered=False, dim=dim), _knn_sql(table, True, dim)
    rows, builds = [], []
    try:
        for lists in sorted({int(v) for v in lists_values}):
            builds.append(build_ivfflat(conn, table, lists, vector_type, dim))
            ivfflat_mode(conn, max(probes_values), plain)
            time_queries(conn, whole, queries[:50])  # warm-up: the lists into the caches
            for probes in sorted({min(int(p), lists) for p in probes_values}):
                ivfflat_mode(conn, probes, plain)
                found, secs = time_queries(conn, whole, queries)
                rows.append(_row(found, truth, secs, engine=ENGINE, index="ivfflat",
                                 lists=lists, probes=probes, filtered=False,
                                 iterative_scan="off", queries=len(queries)))
                if len(large):
                    ivfflat_mode(conn, probes, iterative)
                    found, secs = time_queries(conn, per_user, queries[large], users[large])
                    rows.append(_row(found, [user_truth[i] for i in large], secs,
                                     engine=ENGINE, index="ivfflat", lists=lists,
                                     probes=probes, filtered=True,
                                     iterative_scan=iterative or "unavailable",
                                     queries=len(large)))
    finally:
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(
            sql.Identifier(f"{table}_ivfflat")))
    return rows, builds


def hnsw_large_users(conn: Conn, table: str, queries: Vectors, users: Ids,
                     user_truth: list[list[int]], large: Ids, ef_values: Sequence[int],
                     m: int, ef_construction: int, dim: int | None = None,
                     ) -> list[dict[str, object]]:
    """The HNSW index's per-user search for the same large users, at each ``ef_search``, with
    ``hnsw.iterative_scan = relaxed_order`` (the table's headline HNSW index in place)."""
    stmt = _knn_sql(table, filtered=True, dim=dim)
    rows: list[dict[str, object]] = []
    if not len(large):
        return rows
    for ef in ef_values:
        hnsw_mode(conn, ef, "relaxed_order")
        found, secs = time_queries(conn, stmt, queries[large], users[large])
        rows.append(_row(found, [user_truth[i] for i in large], secs, engine="pgvector",
                         index="hnsw", m=m, ef_construction=ef_construction, ef_search=ef,
                         filtered=True, iterative_scan="relaxed_order", queries=len(large)))
    return rows


def index_types(sweep: pd.DataFrame, hnsw_filtered: Sequence[dict[str, object]],
                ivf_rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    """One frame of both index types: HNSW's pgvector sweep rows (whole table) and its
    large-user rows beside IVFFlat's, with a ``setting`` label for tables and plots."""
    hnsw = sweep[sweep["engine"] == "pgvector"].assign(index="hnsw", filtered=False)
    frame = pd.concat([hnsw, pd.DataFrame(list(hnsw_filtered)), pd.DataFrame(list(ivf_rows))],
                      ignore_index=True)
    if frame.empty:
        return frame
    frame["setting"] = [
        f"lists={int(r['lists'])} probes={int(r['probes'])}" if r["index"] == "ivfflat"
        else f"m={int(r['m'])} efc={int(r['ef_construction'])} ef_search={int(r['ef_search'])}"
        for _, r in frame.iterrows()]
    return frame


def compare_at_recall(frame: pd.DataFrame, builds: pd.DataFrame, filtered: bool = False,
                      target: float = RECALL_TARGET) -> pd.DataFrame:
    """Per index type, the fastest setting (p50) whose recall@5 reaches ``target`` over the
    whole table (``filtered``: for the large users); a type that reaches it nowhere gives its
    best-recall row, ``reached`` False. Build time and size of the build the row ran on."""
    out = []
    part = frame[frame["filtered"] == filtered]
    for kind, rows in part.groupby("index", sort=True):
        ok = rows[rows["recall_at_5"] >= target]
        reached = not ok.empty
        pick = (ok if reached else rows[rows["recall_at_5"] == rows["recall_at_5"].max()]
                ).sort_values("p50_ms").iloc[0]
        key = (builds["index"] == kind) & (
            (builds["lists"] == pick.get("lists")) if kind == "ivfflat" else
            (builds["m"] == pick.get("m")) & (builds["ef_construction"] == pick.get(
                "ef_construction")))
        build = builds[key].iloc[0] if key.any() else None
        every = kind == "ivfflat" and int(pick["probes"]) >= int(pick["lists"])
        out.append({"index": kind, "setting": pick["setting"], "reached": reached,
                    "every_list": every,
                    "recall_at_5": pick["recall_at_5"], "recall_at_10": pick["recall_at_10"],
                    "p50_ms": pick["p50_ms"], "p99_ms": pick["p99_ms"],
                    "build_s": build["build_s"] if build is not None else float("nan"),
                    "index_mb": build["index_mb"] if build is not None else float("nan")})
    return pd.DataFrame(out, columns=COMPARE_COLUMNS)


def when_ivfflat(best: pd.DataFrame, target: float = RECALL_TARGET) -> str:
    """The notebook's sentence on whether IVFFlat would do, from ``compare_at_recall``."""
    if set(best["index"]) != {"hnsw", "ivfflat"}:
        return "IVFFlat or HNSW missing from the comparison: nothing to say."
    h, v = (best.set_index("index").loc[k] for k in ("hnsw", "ivfflat"))
    if not v["reached"]:
        return (f"IVFFlat would not do: no swept lists/probes reached recall@5 {target} "
                f"(best {v['recall_at_5']:.3f} at {v['setting']}); more probes, or HNSW.")
    faster, smaller = h["build_s"] / v["build_s"], h["index_mb"] / v["index_mb"]
    slower = v["p50_ms"] / h["p50_ms"]
    exact = (" (every list probed: an exact scan through the index, no fewer probes reached "
             "it)") if v["every_list"] else ""
    return (f"At recall@5 >= {target}, IVFFlat ({v['setting']}{exact}) builds {faster:.1f}x faster "
            f"and is {smaller:.1f}x smaller than HNSW ({h['setting']}), and answers at "
            f"{slower:.1f}x HNSW's p50 ({v['p50_ms']:.2f} ms against {h['p50_ms']:.2f} ms; p99 "
            f"{v['p99_ms']:.2f} against {h['p99_ms']:.2f}). IVFFlat would do where builds are "
            f"frequent or memory is short and that latency fits the budget; its lists are "
            f"fixed at build (k-means on the rows present), so a corpus that grows or drifts "
            f"needs rebuilds that HNSW does not.")


def metrics(frame: pd.DataFrame, builds: pd.DataFrame,
            target: float = RECALL_TARGET) -> dict[str, object]:
    """The flat ``ivfflat_*`` figures of the run (empty when IVFFlat was not measured): each
    type's fastest setting at recall@5 >= ``target``, whole table and large users."""
    if frame.empty or "ivfflat" not in set(frame["index"]):
        return {}
    out: dict[str, object] = {}
    for filtered, tag in ((False, ""), (True, "filtered_")):
        best = compare_at_recall(frame, builds, filtered, target)
        if set(best["index"]) != {"hnsw", "ivfflat"}:
            continue
        h, v = (best.set_index("index").loc[k] for k in ("hnsw", "ivfflat"))
        out.update({f"ivfflat_{tag}recall_at_5": v["recall_at_5"],
                    f"ivfflat_{tag}recall_at_10": v["recall_at_10"],
                    f"ivfflat_{tag}reached_target": int(bool(v["reached"])),
                    f"ivfflat_{tag}p50_ms": v["p50_ms"], f"ivfflat_{tag}p99_ms": v["p99_ms"],
                    f"ivfflat_{tag}p50_vs_hnsw": v["p50_ms"] / h["p50_ms"]})
        if not filtered:
            out.update(ivfflat_build_s=v["build_s"], ivfflat_index_mb=v["index_mb"],
                       ivfflat_build_speedup_vs_hnsw=h["build_s"] / v["build_s"],
                       ivfflat_size_vs_hnsw=v["index_mb"] / h["index_mb"])
    return out


def plot_index_types(frame: pd.DataFrame, path: str | Path, latency: str = "p50_ms",
                     target: float = RECALL_TARGET) -> Path | None:
    """recall@5 against latency for both index types: one line per HNSW build pair (over
    ef_search) and per IVFFlat ``lists`` (over probes); whole table solid, large users
    dashed."""
    from matplotlib.figure import Figure

    if frame.empty:
        return None
    path = Path(path)
    fig = Figure(figsize=(8, 4.8), layout="constrained")
    ax = fig.subplots()
    for filtered, style in ((False, "-"), (True, "--")):
        part = frame[frame["filtered"] == filtered]
        hnsw = part[part["index"] == "hnsw"]
        for (m, efc), g in hnsw.groupby(["m", "ef_construction"], sort=True):
            g = g.sort_values("ef_search")
            ax.plot(g[latency], g["recall_at_5"], style, marker="o", markersize=3,
                    label=f"HNSW m={int(m)} efc={int(efc)}{' (large users)' if filtered else ''}")
        ivf = part[part["index"] == "ivfflat"]
        for lists, g in ivf.groupby("lists", sort=True):
            g = g.sort_values("probes")
            ax.plot(g[latency], g["recall_at_5"], style, marker="s", markersize=3,
                    label=f"IVFFlat lists={int(lists)}{' (large users)' if filtered else ''}")
    ax.axhline(target, color="grey", linestyle=":", label=f"target {target}")
    ax.set_xscale("log")
    ax.set_xlabel(f"{latency.replace('_ms', '')} latency per query (ms, log)")
    ax.set_ylabel("recall@5 against exact search")
    ax.set_title("HNSW (over ef_search) and IVFFlat (over probes) on the same vectors")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.savefig(path, dpi=110)
    return path
