"""The PNG of ``python -m evals calibrate``: both curves, each with the chosen value marked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evals.cache.calibrate import Calibration


def plot_curves(result: Calibration, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rel = result.relevance
    left.plot(rel["floor"], rel["no_context_accuracy"], marker=".", label="no-context accuracy")
    left.plot(rel["floor"], rel["answerable_refused"], marker=".",
              label="answerable refused")
    left.axvline(float(str(result.floor.values["RAG_SIMILARITY_THRESHOLD"])), color="grey",
                 linestyle="--", label="chosen floor")
    left.set(xlabel="no-context floor (RAG_SIMILARITY_THRESHOLD)", ylabel="share",
             ylim=(-0.02, 1.02), title="No context")
    left.legend(fontsize=8)
    sem = result.semantic
    loose = sem[sem["mode"] == "loose"]
    rate = loose["false_hits"] / loose["near_misses"].clip(lower=1)
    right.plot(loose["threshold"], loose["reuse"], marker=".", label="loose: reuse")
    right.plot(loose["threshold"], rate, marker=".", label="loose: false-hit rate")
    for _, row in sem[sem["mode"] == "strict"].iterrows():
        right.axhline(float(row["reuse"]), color="green", linestyle=":",
                      label=f"strict: reuse {row['reuse']:.2f}, "
                            f"{int(row['false_hits'])} false hits")
    chosen = result.cache.values
    right.set(xlabel="semantic threshold (RAG_SEMANTIC_CACHE_THRESHOLD, loose)",
              ylabel="share", ylim=(-0.02, 1.02),
              title=f"Semantic cache (chosen: {chosen['RAG_SEMANTIC_MODE']}"
                    + (f" {chosen['RAG_SEMANTIC_CACHE_THRESHOLD']}"
                       if "RAG_SEMANTIC_CACHE_THRESHOLD" in chosen else "") + ")")
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
