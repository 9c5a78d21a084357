"""Plots of the load test and the chaos run (matplotlib object API, saved as PNG)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure


def _shade(ax: object, outage: tuple[float, float] | None) -> None:
    if outage is not None:
        ax.axvspan(outage[0], outage[1], color="tab:red", alpha=0.12,  # type: ignore[attr-defined]
                   label="LLM outage")


def plot_timeline(timeline: pd.DataFrame, path: str | Path, title: str = "Load test",
                  outage: tuple[float, float] | None = None) -> Path:
    """Three panels over the run's seconds: users and RPS, p50/p95 latency, failures and
    documented 503s per second. ``outage``: seconds since the start, shaded."""
    path = Path(path)
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    ax_rps, ax_lat, ax_fail = fig.subplots(3, 1, sharex=True)
    t = timeline["t"]
    ax_rps.plot(t, timeline["rps"], color="tab:blue", label="requests/s")
    ax_rps.set_ylabel("requests/s")
    users = ax_rps.twinx()
    users.plot(t, timeline["users"], color="tab:gray", ls="--", label="users")
    users.set_ylabel("users")
    ax_lat.plot(t, timeline["p50_ms"], label="p50")
    ax_lat.plot(t, timeline["p95_ms"], label="p95")
    ax_lat.set_ylabel("latency (ms)")
    ax_fail.plot(t, timeline["failures_s"], color="tab:red", label="failures/s")
    ax_fail.plot(t, timeline["documented_s"], color="tab:orange",
                 label="documented 503/s")
    ax_fail.set_ylabel("per second")
    ax_fail.set_xlabel("seconds since start")
    for ax in (ax_rps, ax_lat, ax_fail):
        _shade(ax, outage)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    return path


def plot_chaos(rates: pd.DataFrame, breaker: pd.DataFrame, path: str | Path,
               outage: tuple[float, float], title: str = "LLM outage") -> Path:
    """Answers per second by outcome (stacked) above the breaker state; the x axis is
    seconds since the start, ``breaker['t']`` and ``outage`` already on that axis."""
    path = Path(path)
    fig = Figure(figsize=(11, 6), layout="constrained")
    ax_out, ax_brk = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    if not rates.empty:
        cols = [c for c in ("miss", "hit", "semantic_hit", "no_context", "stale",
                            "503 documented", "error") if c in rates.columns]
        ax_out.stackplot(rates.index, [rates[c] for c in cols], labels=cols, alpha=0.85)
    ax_out.set_ylabel("answers/s by outcome")
    ax_brk.step(breaker["t"], breaker["level"], where="post", color="black")
    ax_brk.set_yticks([0, 1, 2], ["closed", "half-open", "open"])
    ax_brk.set_ylim(-0.3, 2.3)
    ax_brk.set_xlabel("seconds since start")
    for ax in (ax_out, ax_brk):
        _shade(ax, outage)
        ax.grid(alpha=0.3)
    ax_out.legend(loc="upper left", fontsize=8, ncol=4)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    return path
