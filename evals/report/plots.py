"""Plots of the harness, drawn with matplotlib's object API (no global pyplot state) and saved
as PNG for the summary page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

LABELS = {
    "recall_at_5": "recall@5 (notes)",
    "mrr": "MRR",
    "ndcg_at_10": "nDCG@10",
    "context_recall": "context recall",
    "rouge_l": "ROUGE-L",
    "semantic_similarity": "semantic similarity",
    "no_context_accuracy": "no-context accuracy",
    "context_tokens": "packed context (tokens)",
    "cost_usd": "dollars per answer",
}


def fit_axis(ax: Axes, lows: Sequence[float], highs: Sequence[float], *,
             bounds: tuple[float, float] | None = (0.0, 1.0)) -> None:
    """The y axis around the data (intervals included) with a 10 % margin, kept inside
    ``bounds`` when given: a 0-1 axis hides a difference of two points."""
    values = [float(v) for v in [*lows, *highs] if v is not None and np.isfinite(v)]
    if not values:
        return
    low, high = min(values), max(values)
    pad = max((high - low) * 0.1, 0.01 * max(abs(high), 1e-9), 1e-6)
    low, high = low - pad, high + pad
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1] + 0.02 * (bounds[1] - bounds[0]))
    ax.set_ylim(low, high)


def plot_sweep(frame: pd.DataFrame, path: str | Path,
               metrics: Sequence[str] = ("recall_at_5", "context_recall", "rouge_l",
                                         "context_tokens"),
               chosen: tuple[int, int] | None = None) -> Path:
    """One panel per metric: the metric against the context budget, one line per top_k, with
    its 95 % bootstrap interval (``<metric>_ci_low/high`` columns) as a band; the run's own
    (top_k, budget) ``chosen`` is ringed."""
    path = Path(path)
    sweep_figure(frame, metrics, chosen).savefig(path, dpi=110)
    return path


def sweep_figure(frame: pd.DataFrame, metrics: Sequence[str],
                 chosen: tuple[int, int] | None = None) -> Figure:
    """The figure of :func:`plot_sweep`."""
    fig = Figure(figsize=(4.2 * len(metrics), 3.6), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        lows, highs = [], []
        for k, group in frame.sort_values("context_budget").groupby("top_k"):
            xs, ys = group["context_budget"], group[metric].astype(float)
            line = ax.plot(xs, ys, marker="o", label=f"top_k={k}")[0]
            lows += list(ys)
            highs += list(ys)
            if f"{metric}_ci_low" in group:
                lo = group[f"{metric}_ci_low"].astype(float)
                hi = group[f"{metric}_ci_high"].astype(float)
                ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
                lows += list(lo)
                highs += list(hi)
            if chosen is not None and k == chosen[0]:
                at = group[group["context_budget"] == chosen[1]]
                ax.scatter(at["context_budget"], at[metric].astype(float), s=160,
                           facecolors="none", edgecolors="black", zorder=5,
                           label="this run" if metric == metrics[0] else None)
        ax.set_title(LABELS.get(metric, metric))
        ax.set_xlabel("context budget (tokens)")
        ax.set_ylabel(LABELS.get(metric, metric))
        fit_axis(ax, lows, highs, bounds=None if metric in ("context_tokens", "cost_usd")
                 else (0.0, 1.0))
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if any(f"{m}_ci_low" in frame for m in metrics):
        handles.append(Patch(color="grey", alpha=0.3))
        labels.append("band: 95 % bootstrap interval over the questions")
    # one legend for every panel, under them: it covered the first panel's lines
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6),
               fontsize=8)
    fig.suptitle("Quality against context budget, one line per top_k")
    return fig


def plot_scores(frame: pd.DataFrame, threshold: float, path: str | Path) -> Path:
    """Best retrieval score of answerable and of no-context questions, with the threshold."""
    path = Path(path)
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    groups = {
        "answerable": frame.loc[frame["answerable"], "top_score"],
        "expects no context": frame.loc[frame["expect_no_context"], "top_score"],
    }
    bins = [i / 40 for i in range(-4, 41)]
    for label, values in groups.items():
        ax.hist(values.dropna().astype(float), bins=bins, alpha=0.6, label=label)
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set_xlabel("best cosine similarity of the retrieved chunks")
    ax.set_ylabel("questions")
    ax.set_title("Where the no-context threshold cuts")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return path


def plot_modes(table: pd.DataFrame, path: str | Path,
               metrics: Sequence[str] = ("recall_at_5", "mrr", "ndcg_at_10")) -> Path:
    """One panel per metric: a bar per retrieval mode for each scenario and overall. Bars
    start at 0 (a bar's height is its value; a fitted axis made 0.70 look a third of 0.74),
    and each carries its value, which is where the small differences are read."""
    path = Path(path)
    modes_figure(table, metrics).savefig(path, dpi=110)
    return path


def modes_figure(table: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """The figure of :func:`plot_modes`."""
    fig = Figure(figsize=(4.6 * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        view = table.pivot(index="scenario", columns="mode", values=metric)
        order = ["overall", *[s for s in view.index if s != "overall"]]
        view = view.reindex(order)
        modes = list(view.columns)
        width = 0.8 / max(len(modes), 1)
        for i, mode in enumerate(modes):
            xs = [x + (i - (len(modes) - 1) / 2) * width for x in range(len(view))]
            bars = ax.bar(xs, view[mode].astype(float), width=width, label=mode)
            ax.bar_label(bars, fmt="%.2f", fontsize=6, rotation=90, padding=2)
        ax.set_xticks(range(len(view)), view.index, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1.12)  # room for the values above a bar at 1.0
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.set_title(LABELS.get(metric, metric))
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=max(len(labels), 1),
               fontsize=8)
    fig.suptitle("Dense, lexical and hybrid retrieval on the golden questions")
    return fig
