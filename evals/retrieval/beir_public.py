"""Notebook 02's public section: each shared BEIR-layout set through the real store, per mode.

``run_public`` ingests every requested set that is present (``evals.datasets.beir.find_data_dir``:
the
checkout's ``data/beir`` or the team's ``shared/beir``) as the notes of one user and searches
each query in every mode (``mode_configs``: dense, BM25, ``ts_rank_cd``, hybrid, and the
service's default when it is another mode).  ``public_metrics`` gives the flat figures that
``record`` turns into ``retrieval.public.<set>.<mode>.<metric>`` plus the comparisons the gates
read: the default mode against the better of dense and BM25, and BM25 against the plain BM25
reference of the shared README.  A set that is absent records every figure as None (its gates
skip) and the reason.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evals.datasets.beir import BM25_REFERENCE_NDCG10, data_status, find_data_dir
from evals.retrieval.beir_run import METRICS, MODES, beir_parts, evaluate, standard_configs
from rag_core.config import Retrieval, Settings
from rag_core.parts import Parts

PER_MODE = (*METRICS, "p50_ms", "p99_ms")
# the comparisons of a set; an absent set records them (and every per-mode figure) as None, so
# that the gates on them say "nothing to measure in this run" instead of failing
COMPARISONS = ("default_minus_best_single", "default_minus_dense", "default_minus_bm25",
               "default_minus_hybrid", "bm25_minus_reference", "hybrid_minus_best_single",
               "dense_minus_published")


def default_slug(base: Retrieval) -> str:
    """The slug of the mode that ``base`` (the service's Retrieval) searches with."""
    if base.retrieval_mode == "lexical":
        return str(base.lexical_ranker)
    return str(base.retrieval_mode)


def mode_configs(base: Retrieval) -> dict[str, Retrieval]:
    """Every mode of ``MODES`` on the service's other knobs, and the default mode's own row
    when it is none of them."""
    configs = standard_configs(base)
    configs.setdefault(default_slug(base), base)
    return configs


def empty_metrics(slugs: Sequence[str] = tuple(MODES)) -> dict[str, object]:
    return {**{slug: dict.fromkeys(PER_MODE) for slug in slugs}, **dict.fromkeys(COMPARISONS)}


def public_metrics(table: pd.DataFrame, default: str, published: float | None = None,
                   reference: float | None = None) -> dict[str, object]:
    """Flat figures of one set (``table``: ``beir_run.mode_table`` with slugs as configs):
    per mode, and the default mode (``default``) against each half, the better of them and
    hybrid, BM25 against the plain reference, dense against the published figure."""
    rows = {str(r["config"]): r for r in table.to_dict("records")}
    out: dict[str, object] = {**empty_metrics(list(rows)),
                           **{slug: {k: r[k] for k in PER_MODE} for slug, r in rows.items()}}
    ndcg = {slug: float(r["ndcg_at_10"]) for slug, r in rows.items()}
    if {"dense", "bm25"} <= set(ndcg):
        best = max(ndcg["dense"], ndcg["bm25"])
        if default in ndcg:
            out["default_minus_dense"] = ndcg[default] - ndcg["dense"]
            out["default_minus_bm25"] = ndcg[default] - ndcg["bm25"]
            out["default_minus_best_single"] = ndcg[default] - best
        if "hybrid" in ndcg:
            out["hybrid_minus_best_single"] = ndcg["hybrid"] - best
    if default in ndcg and "hybrid" in ndcg:  # a default other than hybrid (hybrid_prf)
        out["default_minus_hybrid"] = ndcg[default] - ndcg["hybrid"]
    if reference is not None and "bm25" in ndcg:
        out["bm25_minus_reference"] = ndcg["bm25"] - reference
    if published is not None and "dense" in ndcg:
        out["dense_minus_published"] = ndcg["dense"] - published
    return out


def mean_metrics(per_set: Mapping[str, object]) -> dict[str, object]:
    """Across the sets measured, each weighted the same: the default mode's nDCG@10 minus
    hybrid's (the issue's "+0.02 over today's hybrid"; None when no set has both), and how many
    sets the mean is over (a ci run has three, a full run four)."""
    rows = [m for m in per_set.values() if isinstance(m, Mapping)
            and isinstance(m.get("default_minus_hybrid"), float)]
    out: dict[str, object] = {"sets": len(rows), "default_minus_hybrid": None}
    if rows:
        out["default_minus_hybrid"] = float(np.mean([m["default_minus_hybrid"] for m in rows]))
    return out


def run_public(names: Sequence[str], data_dir: str | Path | None = None, split: str = "test",
               *, max_queries: int = 0, max_docs: int = 0, seed: int = 0,
               parts: Parts | None = None, progress: bool = True,
               settings: Settings | None = None) -> dict[str, object]:
    """Each named set that is present: its table, flat metrics and timings; each one that is
    not: the reason, printed and returned, and its figures as None.
    ``settings``: the notebook's Settings, for the parts when ``parts`` is not given."""
    root = Path(data_dir) if data_dir else find_data_dir(names)
    own = parts is None and any(data_status(root / name, split)[0] for name in names)
    if own:
        parts = beir_parts(settings.services.state_dir if settings is not None else None,
                           base=settings)
    try:
        return _run_sets(names, root, split, max_queries, max_docs, seed, parts, progress)
    finally:
        if own and parts is not None:
            parts.close()


def _run_sets(names: Sequence[str], root: Path, split: str, max_queries: int, max_docs: int,
              seed: int, parts: Parts | None, progress: bool) -> dict[str, object]:
    tables, metrics, skipped, sets = [], {}, {}, []
    base = parts.settings.retrieval if parts is not None else Retrieval()
    default = default_slug(base)
    start = time.perf_counter()
    for name in names:
        ok, why = data_status(root / name, split)
        if not ok:
            print(f"public set {name} skipped: {why}")
            skipped[name] = why
            metrics[name] = empty_metrics()
            continue
        result = evaluate(root / name, split, max_queries=max_queries, max_docs=max_docs,
                          seed=seed, configs=mode_configs(base), parts=parts,
                          progress=progress)
        table = result["table"]
        table["bm25_reference"] = [BM25_REFERENCE_NDCG10.get(name) if c == "bm25" else np.nan
                                   for c in table["config"]]
        table["default"] = table["config"] == default
        tables.append(table)
        sets.append({**result["set"], **{k: result["ingest"].get(k) for k in (
            "chunks_written", "embedded_now", "ingest_and_embed_s", "search_s")}})
        published = table["published_dense_ndcg_at_10"].dropna()
        metrics[name] = public_metrics(table, default,
                                       float(published.iloc[0]) if len(published) else None,
                                       BM25_REFERENCE_NDCG10.get(name))
    metrics["mean"] = mean_metrics(metrics)
    return {"table": pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(),
            "sets": pd.DataFrame(sets), "metrics": metrics, "skipped": skipped,
            "default": default, "root": str(root), "seconds": time.perf_counter() - start}


def table_markdown(table: pd.DataFrame) -> str:
    """The per-set, per-mode table of the summary page (the default mode starred)."""
    if table.empty:
        return "no public set was present"
    lines = ["| set | mode | nDCG@10 | recall@100 | MRR@10 | p50 ms | p99 ms | BM25 reference |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        ref = r.get("bm25_reference")
        mode = f"{r['config']} (default)" if r.get("default") else str(r["config"])
        lines.append(f"| {r['set']} | {mode} | {r['ndcg_at_10']:.3f} | {r['recall_at_100']:.3f} "
                     f"| {r['mrr_at_10']:.3f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{'' if ref is None or ref != ref else f'{ref:.3f}'} |")
    return "\n".join(lines)


PLOT_CAPTION = ("nDCG@10 per public set and retrieval mode through the real store (bars); the "
                "black tick on each set is the plain BM25 reference of shared/beir/README.md, "
                "which the BM25 bar must reach; the default mode's bar must reach the better of "
                "dense and BM25.")


def plot_public(table: pd.DataFrame, path: str | Path,
                references: Mapping[str, float] = BM25_REFERENCE_NDCG10) -> Path | None:
    """Grouped bars of nDCG@10 (sets x modes) with the BM25 reference per set; None when no
    set was measured."""
    if table.empty:
        return None
    path = Path(path)
    sets = list(dict.fromkeys(table["set"]))
    modes = list(dict.fromkeys(table["config"]))
    width = 0.8 / len(modes)
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for j, mode in enumerate(modes):
        values = [float(table[(table["set"] == s) & (table["config"] == mode)]["ndcg_at_10"]
                        .iloc[0]) if ((table["set"] == s) & (table["config"] == mode)).any()
                  else np.nan for s in sets]
        ax.bar(np.arange(len(sets)) + (j - (len(modes) - 1) / 2) * width, values, width,
               label=mode)
    marked = [(i, references[s]) for i, s in enumerate(sets) if s in references]
    for n, (i, value) in enumerate(marked):
        ax.hlines(value, i - 0.45, i + 0.45, colors="black", linewidth=2,
                  label="plain BM25 reference" if n == 0 else "_nolegend_")
    ax.set_xticks(np.arange(len(sets)), sets)
    ax.set_ylabel("nDCG@10")
    ax.set_ylim(0, 1)
    ax.set_title("Public sets: nDCG@10 per mode (real store)")
    ax.legend(fontsize=8, ncols=3)
    fig.savefig(path, dpi=110)
    return path
