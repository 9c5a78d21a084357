"""The PNG of ``python -m evals calibrate`` (and of notebooks 01 and 03): the no-context curve,
the semantic-cache curve or both, each with the chosen value marked when one is given."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_curves(path: Path, relevance: pd.DataFrame | None = None,
                semantic: pd.DataFrame | None = None, floor: float | None = None,
                chosen: dict[str, object] | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in (relevance, semantic) if p is not None]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    ax = iter(axes[0])
    if relevance is not None:
        _relevance(next(ax), relevance, floor)
    if semantic is not None:
        _semantic(next(ax), semantic, chosen)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _relevance(ax: Axes, curve: pd.DataFrame, floor: float | None) -> None:
    ax.plot(curve["floor"], curve["no_context_accuracy"], marker=".",
            label="no-context accuracy")
    ax.plot(curve["floor"], curve["answerable_refused"], marker=".", label="answerable refused")
    if floor is not None:
        ax.axvline(floor, color="grey", linestyle="--", label=f"chosen floor {floor:g}")
    ax.set(xlabel="no-context floor (RAG_SIMILARITY_THRESHOLD)", ylabel="share",
           ylim=(-0.02, 1.02), title="No context")
    ax.legend(fontsize=8)


def _semantic(ax: Axes, curve: pd.DataFrame, chosen: dict[str, object] | None) -> None:
    loose = curve[curve["mode"] == "loose"]
    rate = loose["false_hits"] / loose["near_misses"].clip(lower=1)
    ax.plot(loose["threshold"], loose["reuse"], marker=".", label="loose: reuse")
    ax.plot(loose["threshold"], rate, marker=".", label="loose: false-hit rate")
    for _, row in curve[curve["mode"] == "strict"].iterrows():
        ax.axhline(float(row["reuse"]), color="green", linestyle=":",
                   label=f"strict: reuse {row['reuse']:.2f}, "
                         f"{int(row['false_hits'])} false hits")
    title = "Semantic cache"
    if chosen:
        title += f" (chosen: {chosen['RAG_SEMANTIC_MODE']}" + (
            f" {chosen['RAG_SEMANTIC_CACHE_THRESHOLD']})"
            if "RAG_SEMANTIC_CACHE_THRESHOLD" in chosen else ")")
    ax.set(xlabel="semantic threshold (RAG_SEMANTIC_CACHE_THRESHOLD, loose)", ylabel="share",
           ylim=(-0.02, 1.02), title=title)
    ax.legend(fontsize=8)
