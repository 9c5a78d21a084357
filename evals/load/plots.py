"""Plots of the load test and the chaos run (matplotlib object API, saved as PNG)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure


def _shade(ax: object, outage: tuple[float, float] | None) -> None:
    if outage is not None:
        ax.axvspan(outage[0], outage[1], color="tab:red", alpha=0.12,  # type: ignore[attr-defined]
                   label="LLM outage")


def warmup_end(timeline: pd.DataFrame, warmup_s: float | None = None) -> float | None:
    """Where the warm-up ends on the timeline's axis: the later of the first second with a
    completed request (before it the app and Locust start and the users spawn: 0 requests/s
    says nothing about throughput) and ``warmup_s`` (the warm-up the gated figures leave
    out); None when neither is there."""
    t = timeline["t"].astype(float)
    if t.empty:
        return None
    served = t[timeline["rps"].astype(float) > 0]
    first = float(served.iloc[0]) if not served.empty else float(t.iloc[-1])
    end = max(first, float(t.iloc[0]) + float(warmup_s or 0))
    return end if end > float(t.iloc[0]) else None


def plot_timeline(timeline: pd.DataFrame, path: str | Path, title: str = "Load test",
                  outage: tuple[float, float] | None = None,
                  warmup_s: float | None = None) -> Path:
    """Three panels over the run's seconds: users and RPS, p50/p95 latency, failures and
    documented 503s per second. ``outage``: seconds since the start, shaded red; the warm-up
    (:func:`warmup_end`) shaded grey and labelled, so that its seconds at 0 requests/s are
    not read as the service's throughput."""
    path = Path(path)
    timeline_figure(timeline, title, outage, warmup_s).savefig(path, dpi=110)
    return path


def timeline_figure(timeline: pd.DataFrame, title: str = "Load test",
                    outage: tuple[float, float] | None = None,
                    warmup_s: float | None = None) -> Figure:
    """The figure of :func:`plot_timeline`."""
    warm = warmup_end(timeline, warmup_s)
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
    ax_fail.set_ylim(bottom=0)  # counts: a run without failures is not centred on 0
    for ax in (ax_rps, ax_lat, ax_fail):
        _shade(ax, outage)
        if warm is not None:
            ax.axvspan(float(t.iloc[0]), warm, color="tab:gray", alpha=0.15,
                       label="warm-up (not gated)" if ax is ax_rps else None)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    if warm is not None:
        ax_rps.annotate(f"warm-up: {warm - float(t.iloc[0]):.0f} s of start and spawn",
                        (float(t.iloc[0]), 0.45), xycoords=("data", "axes fraction"),
                        xytext=(4, 4), textcoords="offset points", fontsize=8,
                        color="dimgray", ha="left", va="bottom")
    fig.suptitle(title)
    return fig


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


def plot_sweep(steps: pd.DataFrame, path: str | Path, knee_users: int | None = None,
               title: str = "Concurrency sweep") -> Path:
    """Throughput (left) and p50/p99 request time and time to first token (right) against the
    users of each step, the knee marked. Axes fit the data (matplotlib's own limits)."""
    path = Path(path)
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax_rps, ax_lat = fig.subplots(1, 2, sharex=True)
    users = steps["users"]
    ax_rps.plot(users, steps["rps"], marker="o", color="tab:blue", label="answers/s")
    ax_rps.set_ylabel("answers completed per second")
    ax_lat.plot(users, steps["p50_ms"], marker="o", label="p50 request")
    ax_lat.plot(users, steps["p99_ms"], marker="o", label="p99 request")
    if steps["ttft_p50_ms"].notna().any():
        ax_lat.plot(users, steps["ttft_p50_ms"], marker="s", ls="--", label="p50 first token")
    ax_lat.set_ylabel("ms")
    for ax in (ax_rps, ax_lat):
        if knee_users is not None:
            ax.axvline(knee_users, color="tab:red", ls=":", label=f"knee: {knee_users} users")
        ax.set_xlabel("concurrent users")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    if len(users) > 1 and users.min() > 0 and users.max() / users.min() >= 8:
        for ax in (ax_rps, ax_lat):
            ax.set_xscale("log", base=2)
            ax.set_xticks(list(users), [str(u) for u in users])
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    return path


def plot_cold_start(intervals: pd.DataFrame, path: str | Path, steady_s: float | None,
                    interval_s: float, title: str = "Cold start") -> Path:
    """A cold start per interval (``evals.load.cold_start.per_interval``): each cache layer's
    hit rate and the answers', p50/p99, the app's cores; ``steady_s`` marked."""
    path = Path(path)
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    ax_hit, ax_lat, ax_cpu = fig.subplots(3, 1, sharex=True)
    t = intervals["start_s"].astype(float) + interval_s / 2
    for column in [c for c in intervals.columns if c.endswith("hit_rate")]:
        ax_hit.plot(t, intervals[column], marker="o", ms=3,
                    label="answers" if column == "hit_rate"
                    else column.removesuffix("_hit_rate"),
                    lw=2.5 if column == "hit_rate" else 1.2)
    ax_hit.set_ylabel("hit rate")
    ax_hit.set_ylim(-0.05, 1.05)
    ax_lat.plot(t, intervals["p50_ms"], marker="o", ms=3, label="p50")
    ax_lat.plot(t, intervals["p99_ms"], marker="o", ms=3, label="p99")
    ax_lat.set_ylabel("latency (ms)")
    ax_cpu.plot(t, intervals["app_cores"], marker="o", ms=3, color="tab:green", label="app")
    ax_cpu.set_ylabel("app cores")
    ax_cpu.set_xlabel(f"seconds since the first send ({interval_s:g} s a point)")
    for ax in (ax_hit, ax_lat, ax_cpu):
        if steady_s is not None:
            ax.axvline(steady_s, color="tab:gray", ls="--", label=f"steady at {steady_s:g} s")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    ax_hit.set_title(title)
    fig.savefig(path, dpi=110)
    return path
