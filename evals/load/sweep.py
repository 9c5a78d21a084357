"""LLM-native load figures and the concurrency sweep (pure; tested in
``tests/evals/test_load_sweep.py`` on rows built by hand).

- ``stream_summary``: over the streamed answers the LLM generated (outcome ``miss``; cached
  answers arrive as one chunk and say nothing about the model), time to first token p50/p95/p99,
  inter-token latency p50/p99 (every gap between two text chunks of every answer, pooled) and
  the median of the per-request output tokens/s, and the median share of a request's time
  spent before its first text (``ttft_over_total_p50``, a ratio within the run); the rows
  come from the per-request log that ``loadtests/streaming.py`` fills.
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

import numpy as np
import numpy.typing as npt
import pandas as pd

GENERATED = "miss"  # the outcome of an answer the LLM generated
PLATEAU = 0.1  # steps within 10 % of the sweep's highest throughput are on its plateau
LATENCY_FACTOR = 2.0  # a median request time over 2x the lightest step's: users queue


def _pct(values: Sequence[float] | npt.NDArray[np.float64], q: float) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(np.percentile(arr, q)) if arr.size else math.nan


def streamed(events: pd.DataFrame, outcome: str | None = GENERATED) -> pd.DataFrame:
    """The streamed requests of the per-request log (``outcome``: only those; None: all)."""
    if events.empty or "stream" not in events.columns:
        return events.iloc[0:0]
    rows = events[events["stream"].fillna(False).astype(bool)]
    return rows if outcome is None else rows[rows["outcome"] == outcome]


def stream_summary(events: pd.DataFrame, prefix: str = "stream_") -> dict[str, object]:
    """TTFT p50/p95/p99, ITL p50/p99 and median output tokens/s of the generated streamed
    answers among ``events`` (already cut to after the warm-up); NaN when none."""
    rows = streamed(events)
    gaps = [g for value in rows.get("itl_ms", pd.Series(dtype=object))
            if isinstance(value, list | tuple) for g in value]
    ttft = rows["ttft_ms"].to_numpy(dtype=float) if len(rows) else np.array([])
    rate = rows["tokens_per_s"].to_numpy(dtype=float) if len(rows) else np.array([])
    whole = rows["ms"].to_numpy(dtype=float) if len(rows) else np.array([])
    return {
        f"{prefix}requests": int(len(rows)),
        f"{prefix}ttft_p50_ms": _pct(ttft, 50),
        f"{prefix}ttft_p95_ms": _pct(ttft, 95),
        f"{prefix}ttft_p99_ms": _pct(ttft, 99),
        f"{prefix}itl_p50_ms": _pct(gaps, 50),
        f"{prefix}itl_p99_ms": _pct(gaps, 99),
        f"{prefix}tokens_per_second_p50": _pct(rate, 50),
        # the first text's share of each request's time (same requests, so machine speed
        # cancels): near 1 when the answer arrives in one piece at the end, i.e. not streamed
        f"{prefix}ttft_over_total_p50": _pct(ttft / np.where(whole > 0, whole, np.nan), 50)
        if len(rows) else math.nan,
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
    rows: list[dict[str, object]] = []
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

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def find_knee(users: Sequence[int], rps: Sequence[float], p50_ms: Sequence[float],
              p99_ms: Sequence[float] | None = None, *, tolerance: float = PLATEAU,
              latency_factor: float = LATENCY_FACTOR) -> Knee:
    """The knee of a sweep, in order of users; two signs, the earlier wins:

    - throughput: the first step that reaches the sweep's plateau, ``(1 - tolerance)`` of its
      highest throughput, when a step with more users follows it (the users added after it
      did not add throughput beyond the tolerance; a single noisy step cannot move it, as a
      step-to-step gain would);
    - latency: the step before the first whose median request time exceeds
      ``latency_factor`` times the lightest step's (users queue instead of being served).

    Neither: the sweep never saturated; the knee is its last step, ``reached`` false."""
    n = len(users)
    if n == 0 or not (len(rps) == len(p50_ms) == n):
        raise ValueError("users, rps and p50_ms must be non-empty and of one length")
    tail = list(p99_ms) if p99_ms is not None else [math.nan] * n
    order = sorted(range(n), key=lambda i: users[i])
    top = max(float(rps[i]) for i in order)
    candidates: list[tuple[int, str]] = []  # (position in order, reason)
    plateau = next(k for k, i in enumerate(order) if float(rps[i]) >= (1 - tolerance) * top)
    if plateau < n - 1:
        share = 100 * (1 - tolerance)
        candidates.append((plateau, f"{users[order[plateau]]} users reach {share:.0f} % of "
                                    f"the highest throughput ({top:.2f}/s); more users did "
                                    "not add more"))
    base = float(p50_ms[order[0]])
    for k, i in enumerate(order[1:], start=1):
        if math.isfinite(base) and float(p50_ms[i]) > latency_factor * base:
            candidates.append((k - 1, f"the median request time at {users[i]} users, "
                                      f"{float(p50_ms[i]):,.0f} ms, is over {latency_factor:g} x "
                                      f"the {base:,.0f} ms of {users[order[0]]}"))
            break
    if not candidates:
        at, reached, reason = n - 1, False, "throughput still grew at the last step"
    else:
        at, reason = min(candidates)
        reached = True
    i = order[at]
    return Knee(i, int(users[i]), float(rps[i]), float(p50_ms[i]), float(tail[i]), reached,
                reason)


def knee_figures(steps: pd.DataFrame, knee: Knee) -> dict[str, object]:
    """The recorded figures of a sweep: the knee and the best step's throughput."""
    return {"knee_users": knee.users, "knee_rps": knee.rps, "knee_p50_ms": knee.p50_ms,
            "knee_p99_ms": knee.p99_ms, "knee_reached": knee.reached,
            "sweep_max_rps": float(steps["rps"].max()) if len(steps) else math.nan}


def steps_markdown(steps: pd.DataFrame, knee: Knee) -> str:
    """The sweep as a Markdown table for summary.md, the knee's row marked."""
    from evals.report.tables import md_table

    def ms(value: float, form: str = ",.0f") -> str:
        return "-" if not math.isfinite(value) else format(value, form)

    rows = [[f"**{int(r.users)}** (knee)" if int(r.step) == knee.index else str(int(r.users)),
             str(int(r.requests)), f"{r.rps:.2f}", ms(r.p50_ms), ms(r.p99_ms),
             ms(r.ttft_p50_ms), ms(r.ttft_p99_ms), ms(r.itl_p50_ms),
             ms(r.tokens_per_second_p50, ".1f"),
             str(int(r.failures))]
            for r in steps.itertuples()]
    table = md_table(["users", "requests", "answers/s", "p50 ms", "p99 ms", "TTFT p50 ms",
                      "TTFT p99 ms", "ITL p50 ms", "tokens/s p50", "failures"], rows)
    return f"{table}\n\nKnee: {knee.users} users ({knee.reason})."
