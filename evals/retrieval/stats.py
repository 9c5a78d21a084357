"""Pure parts of the retrieval benchmark: recall of id lists, latency percentiles, choosing
ef_search, the Pareto front, the latency at a given recall, exact neighbours from numpy.

Tested alone in ``tests/evals/test_retrieval_bench.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evals.datasets.arrays import Ids, Mask, Seconds, Vectors

K = 10  # neighbours fetched per query: recall@5 and recall@10 from the same run
RECALL_TARGET = 0.98
ENV_NAME = "RAG_HNSW_EF_SEARCH"  # rag_core.config.Settings.hnsw_ef_search


def recall_at_k(found: Sequence[Sequence[object]], truth: Sequence[Sequence[object]],
                k: int) -> float:
    """Mean over queries of |found[:k] & truth[:k]| / |truth[:k]| (queries without truth skip)."""
    scores = []
    for got, want in zip(found, truth, strict=True):
        want_k = set(list(want)[:k])
        if want_k:
            scores.append(len(set(list(got)[:k]) & want_k) / len(want_k))
    return float(np.mean(scores)) if scores else float("nan")


def latency_stats(seconds: Sequence[float] | Seconds) -> dict[str, float]:
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


def exact_neighbours(base: Vectors, queries: Vectors, k: int = K,
                     allowed: Sequence[Mask] | None = None, block: int = 128) -> Ids:
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


def truth_lists(ids: Ids) -> list[list[int]]:
    return [[int(i) for i in row if i >= 0] for row in ids]


def recommendation_note(recall: float, where: str, target: float = RECALL_TARGET) -> str:
    """Why ``choose_ef_search`` chose its value: the smallest that reaches ``target``, or (when
    none does) the one of best recall, said plainly so that nobody reads it as the target."""
    if recall >= target:
        return f"smallest ef_search with recall@5 >= {target} {where}"
    return (f"NO swept ef_search reached recall@5 >= {target} {where}; this one has the best "
            f"recall@5, {recall:.4f} (build with a larger m / ef_construction)")


def recommended_env(ef_search: int, note: str = "") -> str:
    """The text of ``recommended_settings.env`` (read by Settings as RAG_HNSW_EF_SEARCH)."""
    head = f"# recommended by the retrieval benchmark{': ' + note if note else ''}\n"
    return f"{head}{ENV_NAME}={int(ef_search)}\n"
