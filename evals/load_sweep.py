"""LLM-native load figures and the concurrency sweep (pure; tested in
``tests/evals/test_load_sweep.py`` on rows built by hand).

- ``stream_summary``: over the streamed answers the LLM generated (outcome ``miss``; cached
  answers arrive as one chunk and say nothing about the model), time to first token p50/p95/p99,
  inter-token latency p50/p99 (every gap between two text chunks of every answer, pooled) and
  the median of the per-request output tokens/s; the rows come from the per-request log that
  ``loadtests/streaming.py`` fills.
- ``sweep_steps``: a ``steps`` run (``RAG_LOAD_STEPS``) cut into its steps; per step, after the
  step's own warm-up, the throughput (answers completed per second), p50/p99 of the request
  time, and the streaming figures.
- ``find_knee``: the user count after which added users stop adding throughput, or latency
  climbs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

GENERATED = "miss"  # the outcome of an answer the LLM generated
MIN_GAIN = 0.5  # a step's added users must add at least half their share of throughput
LATENCY_FACTOR = 2.0  # ... and keep the median request time within 2x the lightest step's


def _pct(values: Sequence[float] | np.ndarray, q: float) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(np.percentile(arr, q)) if arr.size else math.nan


def streamed(events: pd.DataFrame, outcome: str | None = GENERATED) -> pd.DataFrame:
    """The streamed requests of the per-request log (``outcome``: only those; None: all)."""
    if events.empty or "stream" not in events.columns:
        return events.iloc[0:0]
    rows = events[events["stream"].fillna(False).astype(bool)]
    return rows if outcome is None else rows[rows["outcome"] == outcome]


def stream_summary(events: pd.DataFrame, prefix: str = "stream_") -> dict[str, Any]:
    """TTFT p50/p95/p99, ITL p50/p99 and median output tokens/s of the generated streamed
    answers among ``events`` (already cut to after the warm-up); NaN when none."""
    rows = streamed(events)
    gaps = [g for value in rows.get("itl_ms", pd.Series(dtype=object))
            if isinstance(value, list | tuple) for g in value]
    ttft = rows["ttft_ms"].to_numpy(dtype=float) if len(rows) else np.array([])
    rate = rows["tokens_per_s"].to_numpy(dtype=float) if len(rows) else np.array([])
    return {
        f"{prefix}requests": int(len(rows)),
        f"{prefix}ttft_p50_ms": _pct(ttft, 50),
        f"{prefix}ttft_p95_ms": _pct(ttft, 95),
        f"{prefix}ttft_p99_ms": _pct(ttft, 99),
        f"{prefix}itl_p50_ms": _pct(gaps, 50),
        f"{prefix}itl_p99_ms": _pct(gaps, 99),
        f"{prefix}tokens_per_second_p50": _pct(rate, 50),
    }


STEP_COLUMNS = ["step", "users", "requests", "rps", "p50_ms", "p99_ms", "ttft_p50_ms",
                "ttft_p99_ms", "itl_p50_ms", "tokens_per_second_p50", "failures"]


def sweep_steps(events: pd.DataFrame, steps: Sequence[int], step_s: float, warmup_s: float,
                origin: float | None = None) -> pd.DataFrame:
    """One row per step of a concurrency sweep: step ``i`` ran ``steps[i]`` users from
    ``origin + i * step_s`` (default origin: the first request's start). Its window opens
    ``warmup_s`` into the step (the new users' first requests and the queue they meet are
    left out) and closes at the step's end. ``rps``: requests that completed inside the window
    over its length; latency and streaming figures: requests that started inside it."""
    if warmup_s >= step_s:
        raise ValueError(f"warmup_s ({warmup_s}) must be shorter than a step ({step_s})")
    rows: list[dict[str, Any]] = []
    start = float(events["t"].min()) if origin is None and len(events) else float(origin or 0)
    done = events["t"] + events["ms"] / 1000.0 if len(events) else pd.Series(dtype=float)
    for i, users in enumerate(steps):
        low, high = start + i * step_s + warmup_s, start + (i + 1) * step_s
        began = events[(events["t"] >= low) & (events["t"] < high)] if len(events) else events
        finished = int(((done >= low) & (done < high)).sum()) if len(events) else 0
        ms = began["ms"].to_numpy(dtype=float) if len(began) else np.array([])
        figures = stream_summary(began, prefix="")
        rows.append({
            "step": i, "users": int(users), "requests": int(len(began)),
            "rps": finished / (high - low), "p50_ms": _pct(ms, 50), "p99_ms": _pct(ms, 99),
            "ttft_p50_ms": figures["ttft_p50_ms"], "ttft_p99_ms": figures["ttft_p99_ms"],
            "itl_p50_ms": figures["itl_p50_ms"],
            "tokens_per_second_p50": figures["tokens_per_second_p50"],
            "failures": int(began["failure"].notna().sum()) if len(began) else 0})
    return pd.DataFrame(rows, columns=STEP_COLUMNS)


@dataclass(frozen=True)
class Knee:
    """``index`` into the steps: the last user count that still added throughput at a steady
    latency. ``reached``: a later step saturated (else the sweep never found the limit and
    the knee is its last step); ``reason``: what the next step showed."""

    index: int
    users: int
    rps: float
    p50_ms: float
    p99_ms: float
    reached: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_knee(users: Sequence[int], rps: Sequence[float], p50_ms: Sequence[float],
              p99_ms: Sequence[float] | None = None, *, min_gain: float = MIN_GAIN,
              latency_factor: float = LATENCY_FACTOR) -> Knee:
    """Walk the steps in order of users. Going from step ``i`` to ``i + 1`` the added users
    should add throughput in proportion: ``gain = (rps[i+1] - rps[i]) / (rps[i] / users[i] *
    (users[i+1] - users[i]))`` is 1 for perfect scaling, 0 when nothing is added. The knee is
    the last step before the first one whose gain falls under ``min_gain`` or whose median
    latency exceeds ``latency_factor`` times the lightest step's."""
    n = len(users)
    if n == 0 or not (len(rps) == len(p50_ms) == n):
        raise ValueError("users, rps and p50_ms must be non-empty and of one length")
    tail = list(p99_ms) if p99_ms is not None else [math.nan] * n
    order = sorted(range(n), key=lambda i: users[i])
    base_latency = float(p50_ms[order[0]])

    def knee(at: int, reached: bool, reason: str) -> Knee:
        return Knee(at, int(users[at]), float(rps[at]), float(p50_ms[at]), float(tail[at]),
                    reached, reason)

    for here, nxt in zip(order, order[1:], strict=False):
        per_user = float(rps[here]) / max(1, users[here])
        added = users[nxt] - users[here]
        if per_user > 0 and added > 0:
            gain = (float(rps[nxt]) - float(rps[here])) / (per_user * added)
            if gain < min_gain:
                return knee(here, True, f"{users[nxt]} users added {gain:.2f} of their share "
                                        f"of throughput (< {min_gain})")
        if math.isfinite(base_latency) and float(p50_ms[nxt]) > latency_factor * base_latency:
            return knee(here, True, f"median latency at {users[nxt]} users "
                                    f"{float(p50_ms[nxt]):.0f} ms > {latency_factor} x "
                                    f"{base_latency:.0f} ms")
    return knee(order[-1], False, "throughput still grew at the last step")


def knee_figures(steps: pd.DataFrame, knee: Knee) -> dict[str, Any]:
    """The recorded figures of a sweep: the knee and the best step's throughput."""
    return {"knee_users": knee.users, "knee_rps": knee.rps, "knee_p50_ms": knee.p50_ms,
            "knee_p99_ms": knee.p99_ms, "knee_reached": knee.reached,
            "sweep_max_rps": float(steps["rps"].max()) if len(steps) else math.nan}
