"""Plots of the harness, drawn with matplotlib's object API (no global pyplot state) and saved
as PNG for the summary page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

LABELS = {
    "recall_at_5": "recall@5 (notes)",
    "mrr": "MRR",
    "ndcg_at_10": "nDCG@10",
    "context_recall": "context recall",
    "rouge_l": "ROUGE-L",
    "semantic_similarity": "semantic similarity",
    "no_context_accuracy": "no-context accuracy",
}


def plot_sweep(frame: pd.DataFrame, path: str | Path,
               metrics: Sequence[str] = ("recall_at_5", "context_recall", "rouge_l",
                                         "semantic_similarity")) -> Path:
    """One panel per metric: the metric against the context budget, one line per top_k."""
    path = Path(path)
    fig = Figure(figsize=(4.2 * len(metrics), 3.6), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        for k, group in frame.sort_values("context_budget").groupby("top_k"):
            ax.plot(group["context_budget"], group[metric].astype(float), marker="o",
                    label=f"top_k={k}")
        ax.set_title(LABELS.get(metric, metric))
        ax.set_xlabel("context budget (tokens)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Quality against context budget and top_k")
    fig.savefig(path, dpi=110)
    return path


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
    """One panel per metric: a bar per retrieval mode for each scenario and overall."""
    path = Path(path)
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
            ax.bar(xs, view[mode].astype(float), width=width, label=mode)
        ax.set_xticks(range(len(view)), view.index, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(LABELS.get(metric, metric))
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Dense, lexical and hybrid retrieval on the golden questions")
    fig.savefig(path, dpi=110)
    return path
