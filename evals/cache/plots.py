"""Plots of the cache and cost notebook (matplotlib object API, saved as PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evals.report.plots import fit_axis

OUTCOME_LABELS = {"l1": "L1 query cache", "semantic": "semantic cache", "llm": "LLM call",
                  "no_context": "no context (no LLM)"}
OUTCOME_COLORS = {"l1": "#2b8cbe", "semantic": "#7bccc4", "llm": "#f03b20",
                  "no_context": "#bdbdbd"}


def plot_over_time(over: pd.DataFrame, path: str | Path, bucket_h: float) -> Path:
    """Share of requests per outcome in each time bucket (stacked), from ``rates_over_time``."""
    path = Path(path)
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax = fig.subplots()
    columns = [c for c in OUTCOME_LABELS if c in over]
    if not over.empty:  # one more edge so that the last bucket gets its width
        last = over.iloc[[-1]].assign(bucket_start_h=over["bucket_start_h"].iloc[-1] + bucket_h)
        over = pd.concat([over, last], ignore_index=True)
    x = over["bucket_start_h"].astype(float)
    ax.stackplot(x, *[over[c].astype(float) for c in columns],
                 labels=[OUTCOME_LABELS[c] for c in columns],
                 colors=[OUTCOME_COLORS[c] for c in columns], alpha=0.9, step="post")
    ax.set_xlabel("simulated time (hours)")
    ax.set_ylabel("share of requests")
    ax.set_ylim(0, 1)
    if len(x):
        ax.set_xlim(float(x.min()), float(x.max()))
    ax.set_title("Who answered, over the simulated period")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path, dpi=110)
    return path


def plot_sweeps(swept: pd.DataFrame, pairs: pd.DataFrame, query_ttl_s: float,
                semantic_threshold: float, path: str | Path) -> Path:
    """Left: hit rates against the query TTL; right: against the semantic threshold, with the
    false-hit rate and recall of the labelled pairs at each threshold."""
    path = Path(path)
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    by_ttl = swept[swept["semantic_threshold"] == semantic_threshold].sort_values("query_ttl_h")
    for column, label in (("hit_rate", "all caches"), ("l1_hit_rate", "L1"),
                          ("semantic_hit_rate", "semantic")):
        left.plot(by_ttl["query_ttl_h"], by_ttl[column].astype(float), marker="o", label=label)
    left.set_xscale("log")
    left.set_xlabel("query cache TTL (simulated hours, log)")
    left.set_ylabel("share of requests")
    left.axvline(query_ttl_s / 3600, color="black", linestyle=":", linewidth=1,
                 label=f"this run ({query_ttl_s / 3600:g} h)")
    shown = [by_ttl[c].astype(float) for c in ("hit_rate", "l1_hit_rate", "semantic_hit_rate")]
    fit_axis(left, [v for col in shown for v in col], [v for col in shown for v in col])
    left.set_title(f"Hit rate against TTL (threshold {semantic_threshold:g})")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    by_thr = swept[swept["query_ttl_s"] == query_ttl_s].sort_values("semantic_threshold")
    right.plot(by_thr["semantic_threshold"], by_thr["hit_rate"].astype(float), marker="o",
               label="replay: hit rate")
    right.plot(by_thr["semantic_threshold"], by_thr["semantic_hit_rate"].astype(float),
               marker="o", label="replay: semantic hits")
    if not pairs.empty:
        right.plot(pairs["threshold"], pairs["false_hit_rate"], marker="s", linestyle="--",
                   color="#d62728", label="dev pairs: false-hit rate")
        right.plot(pairs["threshold"], pairs["recall"], marker="s", linestyle="--",
                   color="#2ca02c", label="dev pairs: recall")
    values = [v for line in right.get_lines() for v in np.asarray(line.get_ydata(), float)]
    right.axvline(semantic_threshold, color="black", linestyle=":", linewidth=1,
                  label=f"this run ({semantic_threshold:g})")
    right.set_xlabel("semantic cache threshold (cosine)")
    right.set_ylabel("share (requests or pairs)")
    fit_axis(right, values, values)
    right.set_title(f"Against the semantic threshold (TTL {query_ttl_s / 3600:g} h)")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return path


def plot_costs(costs: pd.DataFrame, path: str | Path, requests_per_user_per_day: float = 10,
               ) -> Path:
    """Monthly LLM cost with and without caches at each scale (log scale), from
    ``project_costs``."""
    path = Path(path)
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(costs))
    width = 0.38
    bars = [("cost_without_cache_usd", "without caches", "#f03b20", -width / 2),
            ("cost_with_cache_usd", "with caches", "#2b8cbe", width / 2)]
    for column, label, color, shift in bars:
        values = costs[column].astype(float)
        drawn = ax.bar(x + shift, values.clip(lower=1e-6), width, label=label, color=color)
        ax.bar_label(drawn, labels=[f"${v:,.2f}" for v in values], fontsize=7, padding=2)
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{int(u):,} users" for u in costs["users"]])
    ax.set_ylabel("LLM cost per month (USD, log)")
    ax.set_title(f"Monthly LLM cost, {requests_per_user_per_day:g} requests per user per day")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return path
