"""Reuse against false hits per semantic-cache mode and set, with the 95 % Wilson bounds
(the cache notebook's plot; figures from ``evals.decisions.decisions_eval.semantic_table``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from evals.judge.questions import wilson

MARKERS = {"strict": "o", "loose": "s"}


def plot_modes(table: pd.DataFrame, path: str | Path) -> Path:
    """One point per (set, mode): x the false-hit rate of near misses, y paraphrase reuse,
    each with its Wilson interval as error bars."""
    path = Path(path)
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for _, row in table.iterrows():
        fh, n = int(row["false_hits"]), int(row["near_misses"])
        tp, m = round(float(row["reuse"]) * int(row["paraphrases"])), int(row["paraphrases"])
        x, y = fh / n if n else 0.0, float(row["reuse"])
        (x_low, x_high), (y_low, y_high) = wilson(fh, n), wilson(tp, m)
        xerr = [[x - x_low], [x_high - x]]
        yerr = [[y - y_low], [y_high - y]]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=MARKERS.get(str(row["mode"]), "^"),
                    capsize=3, label=f"{row['set']}, {row['mode']}")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("near misses reused (false-hit rate, 95 % Wilson interval)")
    ax.set_ylabel("paraphrases reused")
    ax.set_xlim(-0.02, 0.5)
    ax.set_ylim(0, 1)
    ax.set_title("Semantic cache: reuse against false hits, per mode and set")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return path
