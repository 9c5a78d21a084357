"""Plots of the retrieval benchmark (matplotlib object API, PNG for the summary page)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.typing import ColorType

from evals.retrieval.bench import RECALL_TARGET, pareto_front


def _label(row: pd.Series) -> str:
    return f"{row['engine']} m={int(row['m'])} efc={int(row['ef_construction'])}"


def _series(sweep: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    groups = sweep.groupby(["engine", "m", "ef_construction"], sort=True)
    return [(_label(g.iloc[0]), g.sort_values("ef_search")) for _, g in groups]


def plot_pareto(sweep: pd.DataFrame, path: str | Path, latency: str = "p50_ms") -> Path:
    """recall@5 against latency, one line per engine and build pair; the Pareto front of the
    pgvector points (best build pair and ef_search for a latency budget) dashed."""
    path = Path(path)
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    points: list[tuple[float, float, str, ColorType]] = []
    for label, group in _series(sweep):
        (line,) = ax.plot(group[latency], group["recall_at_5"], marker="o", label=label)
        points += [(float(r[latency]), float(r["recall_at_5"]), str(int(r["ef_search"])),
                    line.get_color()) for _, r in group.iterrows()]
    front = pareto_front(sweep[sweep["engine"] == "pgvector"], latency, "recall_at_5")
    ax.plot(front[latency], front["recall_at_5"], "k--", linewidth=1,
            label="pgvector Pareto front")
    ax.axhline(RECALL_TARGET, color="grey", linestyle=":", label=f"target {RECALL_TARGET}")
    ax.set_xscale("log")
    ax.set_xlabel(f"{latency.replace('_ms', '')} latency per query (ms, log)")
    ax.set_ylabel("recall@5")
    ax.set_title("Recall against latency (labels: ef_search)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    label_points(ax, points)
    fig.savefig(path, dpi=110)
    return path


# Where a label may sit around its point (offset in points), tried in this order.
_OFFSETS = ((4, -9), (4, 3), (-12, 3), (-12, -9), (6, -3), (-16, -3), (0, 6), (0, -13))


def label_points(ax: Axes, points: Sequence[tuple[float, float, str, ColorType]],
                 min_gap_px: float = 11.0) -> list[Annotation]:
    """Label each point (x, y, text, colour) at the first offset that keeps the label
    ``min_gap_px`` clear of every label placed so far and of every other point; a label with
    no free place is left out (its value is the one of the same place on a neighbouring line).
    Placed in display pixels once the axes' limits and scales are final."""
    ax.get_xlim(), ax.get_ylim()  # settles pending autoscaling before pixels are computed
    to_px = ax.transData.transform
    scale = ax.figure.dpi / 72.0
    marks = [tuple(to_px((x, y))) for x, y, _, _ in points]
    placed: list[tuple[float, float]] = []
    out = []
    for (x, y, text, colour), own in zip(points, marks, strict=True):
        for dx, dy in _OFFSETS:
            at = (own[0] + (dx + 3 * len(text)) * scale, own[1] + (dy + 3) * scale)
            clear = all(math.dist(at, p) >= min_gap_px * scale for p in placed) and all(
                math.dist(at, m) >= min_gap_px * scale * 0.8 for m in marks)
            if clear:
                placed.append(at)
                out.append(ax.annotate(text, (x, y), xytext=(dx, dy),
                                       textcoords="offset points", fontsize=6, color=colour))
                break
    return out


def plot_recall_vs_ef(sweep: pd.DataFrame, path: str | Path, recommended: int,
                      default: int | None = None) -> Path:
    """recall@5 and recall@10 against ef_search per build pair, with the recommended ef_search
    (the smallest reaching the recall target on this corpus) and the service's default
    (``RAG_HNSW_EF_SEARCH``) marked: they differ when the corpus differs from the one the
    default was chosen on."""
    path = Path(path)
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, metric in zip(axes, ("recall_at_5", "recall_at_10"), strict=True):
        for label, group in _series(sweep):
            style = "--" if label.startswith("hnswlib") else "-"
            ax.plot(group["ef_search"], group[metric], style, marker="o", label=label)
        ax.axhline(RECALL_TARGET, color="grey", linestyle=":")
        ax.axvline(recommended, color="black", linewidth=1,
                   label=f"recommended here {recommended} (recall@5 >= {RECALL_TARGET})")
        if default is not None and default != recommended:
            ax.axvline(default, color="tab:red", linewidth=1, linestyle="--",
                       label=f"service default {default}")
        ax.set_xscale("log")
        ax.set_xlabel("hnsw.ef_search (log)")
        ax.set_title(metric.replace("_at_", "@"))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("recall")
    axes[0].legend(fontsize=7)
    fig.savefig(path, dpi=110)
    return path


def plot_engines(sweep: pd.DataFrame, exact_p50_ms: float, path: str | Path) -> Path:
    """pgvector (through PostgreSQL) against hnswlib (in process) for the headline pair."""
    path = Path(path)
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    ax_lat, ax_rec = fig.subplots(1, 2)
    for label, group in _series(sweep):
        (line,) = ax_lat.plot(group["ef_search"], group["p50_ms"], marker="o",
                              label=f"{label} p50")
        ax_lat.plot(group["ef_search"], group["p99_ms"], ":", marker=".", color=line.get_color(),
                    label=f"{label} p99")
        ax_rec.plot(group["ef_search"], group["recall_at_5"], marker="o", label=label,
                    color=line.get_color())
    ax_lat.axhline(exact_p50_ms, color="red", linestyle="--",
                   label=f"exact scan p50 {exact_p50_ms:.1f} ms")
    for ax in (ax_lat, ax_rec):
        ax.set_xscale("log")
        ax.set_xlabel("ef_search (log)")
        ax.grid(alpha=0.3)
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("latency per query (ms, log)")
    ax_rec.set_ylabel("recall@5")
    ax_lat.legend(fontsize=7)
    ax_rec.legend(fontsize=7)
    fig.suptitle("pgvector through PostgreSQL against hnswlib in process")
    fig.savefig(path, dpi=110)
    return path
