"""A cold start (notebook 04's ``cold_start``): how long a newly started service takes to reach
its steady hit rate and p99, and what its first minutes cost.

``run_cold_start`` stops the embedded PostgreSQL and Redis of the load test's state folder,
starts them again, empties every cache layer (answers, semantic entries, contexts, stale
answers and the question embeddings), starts a fresh app with no warm-up (its models load on
its first questions), and replays the log once while a thread samples the app's CPU time.
What stays warm is what no user program can empty: the operating system's page cache.

The figures (pure, ``per_interval`` and ``steady``): the run is cut into intervals of one
minute of the log's time (``60 / speed`` seconds of the replay; a minute at 1x); per interval
the hit rate of each cache layer (``query``: exact answers, ``semantic``, ``embedding``,
``context``; among the answers whose layer was looked up), the answers' hit rate, p50/p99 of
the requests sent in it and the app's cores. The steady values are those of the requests sent
in the run's last half (``SETTLED_SHARE``); ``steady_s`` is the end of the first interval
whose answer hit rate is at least 90 % of the steady one and whose p99 at most 110 % of the
steady one (``TOLERANCE``), counted from the first send: the time the service took to serve
as it does once warm. None: no interval got there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from evals.load.cpu import CpuSampler
from evals.load.stack import LoadConfig
from evals.replay.report import Slo
from evals.replay.send import LAYERS, Sent

TOLERANCE = 0.1  # within 10 % of the steady value
SETTLED_SHARE = 0.5  # the steady values: the requests sent in the run's last half
MIN_REQUESTS = 3  # an interval with fewer requests says nothing about p99
HITS = ("hit", "semantic_hit")
INTERVAL_COLUMNS = ["interval", "start_s", "requests", "hit_rate",
                    *(f"{layer}_hit_rate" for layer in LAYERS), "p50_ms", "p99_ms",
                    "app_cores"]


class CpuTimeline(CpuSampler):
    """``CpuSampler`` that also keeps each sample: (seconds since ``t0``, the app group's CPU
    seconds so far)."""

    def __init__(self, app_pid: int, every_s: float = 0.5) -> None:
        super().__init__({"app": [app_pid]}, every_s)
        self.t0 = time.monotonic()
        self.samples: list[tuple[float, float]] = []

    def _sample(self) -> None:
        super()._sample()
        self.samples.append((time.monotonic() - self.t0,
                             sum(self.last[p] - self.first[p] for p in self.last)))


def _layer(sent: Sent, layer: str) -> str:
    for word in sent.layers.split():
        name, _, outcome = word.partition(":")
        if name == layer:
            return outcome
    return ""


def hit_rates(sent: Sequence[Sent]) -> dict[str, float]:
    """The answers' hit rate and each layer's, among the answers (200) whose layer was looked
    up (not ``off``); NaN where none was."""
    answered = [s for s in sent if s.status == 200]
    out = {"hit_rate": (sum(s.outcome == "hit" for s in answered) / len(answered))
           if answered else math.nan}
    for layer in LAYERS:
        seen = [o for o in (_layer(s, layer) for s in answered) if o and o != "off"]
        out[f"{layer}_hit_rate"] = sum(o in HITS for o in seen) / len(seen) if seen else math.nan
    return out


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if len(values) else math.nan


def _cores(cpu: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """CPU seconds the app used between the samples nearest ``start`` and ``end`` (seconds
    since the first send), over that time."""
    inside = [(t, c) for t, c in cpu if start <= t <= end]
    before = [(t, c) for t, c in cpu if t < start]
    points = before[-1:] + inside
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return math.nan
    return (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])


def per_interval(sent: Sequence[Sent], interval_s: float,
                 cpu: Sequence[tuple[float, float]] = ()) -> pd.DataFrame:
    """One row per interval of ``interval_s`` seconds of sends (``INTERVAL_COLUMNS``);
    ``cpu``: (seconds since the first send, the app's CPU seconds so far) samples."""
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    if not sent:
        return pd.DataFrame(columns=INTERVAL_COLUMNS)
    last = max(s.send_s for s in sent)
    rows = []
    for i in range(int(last // interval_s) + 1):
        start, end = i * interval_s, (i + 1) * interval_s
        group = [s for s in sent if start <= s.send_s < end]
        latencies = [s.latency_s for s in group]
        rows.append({"interval": i, "start_s": start, "requests": len(group),
                     **hit_rates(group), "p50_ms": _pct(latencies, 50),
                     "p99_ms": _pct(latencies, 99), "app_cores": _cores(cpu, start, end)})
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)


@dataclass(frozen=True)
class Steady:
    hit_rate: float  # the answers' hit rate over the run's last half
    p50_ms: float
    p99_ms: float
    steady_s: float | None  # the end of the first interval within TOLERANCE of both
    interval_s: float

    def figures(self, intervals: pd.DataFrame, speed: float) -> dict[str, object]:
        """The recorded figures (``load.cold_start_*``)."""
        first = intervals.iloc[0] if len(intervals) else None

        def at_first(column: str) -> float | None:
            value = None if first is None else float(first[column])
            return None if value is None or math.isnan(value) else round(value, 4)

        return {"cold_start_steady_s": self.steady_s,
                "cold_start_steady_log_s": None if self.steady_s is None
                else round(self.steady_s * speed, 1),
                "cold_start_interval_s": self.interval_s,
                "cold_start_steady_hit_rate": round(self.hit_rate, 4),
                "cold_start_steady_p99_ms": round(self.p99_ms, 1),
                "cold_start_first_hit_rate": at_first("hit_rate"),
                "cold_start_first_p99_ms": at_first("p99_ms"),
                "cold_start_first_app_cores": at_first("app_cores")}


def steady(sent: Sequence[Sent], intervals: pd.DataFrame, interval_s: float, *,
           tolerance: float = TOLERANCE, settled_share: float = SETTLED_SHARE) -> Steady:
    """The steady values (the requests sent in the last ``settled_share`` of the run) and the
    time until an interval's hit rate and p99 were both within ``tolerance`` of them."""
    last = max((s.send_s for s in sent), default=0.0)
    settled = [s for s in sent if s.send_s >= (1 - settled_share) * last]
    hit = hit_rates(settled)["hit_rate"]
    latencies = [s.latency_s for s in settled]
    p99 = _pct(latencies, 99)
    reached = None
    for row in intervals.itertuples():
        if row.requests < MIN_REQUESTS:
            continue
        hit_ok = math.isnan(hit) or row.hit_rate >= (1 - tolerance) * hit
        if hit_ok and row.p99_ms <= (1 + tolerance) * p99:
            reached = round((row.interval + 1) * interval_s, 2)
            break
    return Steady(hit, _pct(latencies, 50), p99, reached, interval_s)


def interval_for(speed: float) -> float:
    """One minute of the log's time, in seconds of a replay at ``speed``."""
    return 60.0 / speed


@dataclass
class ColdStart:
    intervals: pd.DataFrame
    steady: Steady
    speed: float
    sent: list[Sent]

    def figures(self) -> dict[str, object]:
        return self.steady.figures(self.intervals, self.speed)


def run_cold_start(config: LoadConfig, log: str, speed: float, out: Path,
                   slo: Slo = Slo()) -> ColdStart:
    """A fresh stack of ``config`` (services restarted, every cache layer emptied, a new app
    without warm-up), ``log`` replayed once at ``speed``. The CPU sampler starts just before
    the replay's first send (within the time it takes to read the log)."""
    from pydantic import SecretStr

    from evals.load.limits import describe
    from evals.load.replay_load import resolve_log
    from evals.load.stack import running_stack
    from evals.replay.run import Setup, replay_log
    from rag_core.config import Settings
    from rag_core.devservers.mock_server import configure_mock

    cold = replace(config, warm_up_requests=0, cold_start=True, label="cold")
    out.mkdir(parents=True, exist_ok=True)
    interval = interval_for(speed)
    with running_stack(cold, out) as stack:
        env = stack["env"]
        configure_mock(stack["mock_url"], latency_ms=cold.mock_latency_ms,
                       latency_jitter_ms=cold.mock_jitter_ms, tokens_per_s=0.0)
        setup = Setup(dataset=cold.dataset or None, slo=slo, limits=describe(env))
        sampler = CpuTimeline(stack["app_pid"], every_s=min(0.5, interval / 4))
        sampler.start()
        try:
            run = replay_log(resolve_log(log), stack["app_url"], speed, out / "replay", setup,
                             Settings(jwt_secret=SecretStr(env["RAG_JWT_SECRET"])))
        finally:
            sampler.stop()
    intervals = per_interval(run.sent, interval, sampler.samples)
    return ColdStart(intervals, steady(run.sent, intervals, interval), speed, run.sent)
