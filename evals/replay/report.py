"""What a replay measured (pure): rates per second, latency by outcome, the hit rate, the cost
per 1,000 questions, and the goodput: the share of requests that met their SLO (a cached answer
within ``cached_s``, any other answer within ``miss_s``; a refusal or an error never does).

``requests.csv`` holds every request (``REQUEST_COLUMNS``); ``per_second.csv`` the rates;
``report.json`` and ``report.md`` the figures.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from evals.replay.logs import Problems
from evals.replay.send import CACHED, OUTCOMES, Sent

REQUEST_COLUMNS = ("line", "user", "due_s", "send_s", "first_byte_s", "last_byte_s", "status",
                   "outcome", "cache_layer", "cost_usd", "code", "layers")
ANSWERED = ("hit", "miss", "no-context", "degraded")


@dataclass(frozen=True)
class Slo:
    miss_s: float = 5.0  # the seeds' figure for an answer the pipeline makes
    cached_s: float = 1.0  # and for one a cache serves

    def met(self, sent: Sent) -> bool:
        if sent.outcome in CACHED and sent.cache_layer:
            return sent.latency_s <= self.cached_s
        if sent.outcome in ("miss", "no-context"):
            return sent.latency_s <= self.miss_s
        return False


@dataclass(frozen=True)
class OutcomeFigures:
    outcome: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class Second:
    second: int
    offered: int  # sent in that second
    answered: int  # answers (200) that ended in it


@dataclass
class ReplayReport:
    log: str
    server: str
    speed: float
    cold: bool  # sent with no_cache
    limits: str  # the request limits the server ran under, as stated by the caller
    sent: int
    answered: int
    duration_s: float
    offered_rps: float
    answered_rps: float
    hit_rate: float  # hits among answers (200)
    dollars_per_1000: float  # the model's cost per 1,000 questions sent
    goodput: float
    slo: Slo
    p99_ms: float  # every request's, whatever its outcome
    send_lag_p99_ms: float  # how late the sends were against the log's timing
    peak_offered: int = 0  # the most questions sent in one second (the burst)
    outcomes: list[OutcomeFigures] = field(default_factory=list)
    seconds: list[Second] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)
    problem_lines: list[str] = field(default_factory=list)
    lines: int = 0

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out.pop("seconds")
        return out


def _pct(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else math.nan


def summarise(sent: Sequence[Sent], problems: Problems, *, log: str, server: str,
              speed: float, cold: bool, limits: str, slo: Slo) -> ReplayReport:
    """The report of one replay's requests."""
    latencies = [s.latency_s for s in sent]
    answered = [s for s in sent if s.outcome in ANSWERED and s.status == 200]
    end = max((s.last_byte_s for s in sent), default=0.0)
    span = max((s.send_s for s in sent), default=0.0)
    outcomes = []
    for name in OUTCOMES:
        group = [s.latency_s for s in sent if s.outcome == name]
        if group:
            outcomes.append(OutcomeFigures(name, len(group), _pct(group, 50), _pct(group, 95),
                                           _pct(group, 99)))
    hits = sum(1 for s in answered if s.outcome == "hit")
    seconds = per_second(sent)
    return ReplayReport(
        log=log, server=server, speed=speed, cold=cold, limits=limits, sent=len(sent),
        answered=len(answered), duration_s=round(end, 3),
        offered_rps=round(len(sent) / span, 3) if span > 0 else float(len(sent)),
        answered_rps=round(len(answered) / end, 3) if end > 0 else 0.0,
        hit_rate=round(hits / len(answered), 4) if answered else 0.0,
        dollars_per_1000=round(sum(s.cost_usd for s in sent) / len(sent) * 1000, 6)
        if sent else 0.0,
        goodput=round(sum(1 for s in sent if slo.met(s)) / len(sent), 4) if sent else 0.0,
        slo=slo, p99_ms=_pct(latencies, 99),
        send_lag_p99_ms=_pct([max(0.0, s.send_s - s.due_s) for s in sent], 99),
        outcomes=outcomes, seconds=seconds, problems=dict(problems.counts),
        problem_lines=problems.describe(), lines=problems.lines,
        peak_offered=max((s.offered for s in seconds), default=0))


def per_second(sent: Sequence[Sent]) -> list[Second]:
    """Offered (sent) and answered (ended with 200) requests in each second of the run."""
    offered = Counter(int(s.send_s) for s in sent)
    answered = Counter(int(s.last_byte_s) for s in sent if s.status == 200)
    last = max([*offered, *answered], default=-1)
    return [Second(t, offered[t], answered[t]) for t in range(last + 1)]


def write(report: ReplayReport, sent: Sequence[Sent], out: Path) -> dict[str, Path]:
    """``requests.csv``, ``per_second.csv``, ``report.json`` and ``report.md`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"requests": out / "requests.csv", "per_second": out / "per_second.csv",
             "json": out / "report.json", "markdown": out / "report.md"}
    with paths["requests"].open("w", newline="", encoding="utf-8") as handle:
        rows = csv.writer(handle)
        rows.writerow(REQUEST_COLUMNS)
        for s in sorted(sent, key=lambda s: s.send_s):
            rows.writerow([s.line, s.user, round(s.due_s, 4), round(s.send_s, 4),
                           round(s.first_byte_s, 4), round(s.last_byte_s, 4), s.status,
                           s.outcome, s.cache_layer, s.cost_usd, s.code, s.layers])
    with paths["per_second"].open("w", newline="", encoding="utf-8") as handle:
        rows = csv.writer(handle)
        rows.writerow(("second", "offered", "answered"))
        rows.writerows((s.second, s.offered, s.answered) for s in report.seconds)
    paths["json"].write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n",
                             encoding="utf-8")
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    return paths


def markdown(report: ReplayReport) -> str:
    lines = [f"# Replay of {report.log}", "",
             f"- server: {report.server}, speed {report.speed:g}x, "
             f"{'cold (no_cache)' if report.cold else 'warm'}",
             f"- request limits: {report.limits}",
             f"- sent {report.sent} of {report.lines} log lines, answered {report.answered} "
             f"in {report.duration_s:.1f} s: offered {report.offered_rps:.2f}/s, answered "
             f"{report.answered_rps:.2f}/s, at most {report.peak_offered} sent in one second "
             f"(send lag p99 {report.send_lag_p99_ms:.0f} ms)",
             f"- hit rate {report.hit_rate:.1%}, ${report.dollars_per_1000:.4f} per 1,000 "
             "questions",
             f"- goodput {report.goodput:.1%} (SLO: a miss within {report.slo.miss_s:g} s, a "
             f"cached answer within {report.slo.cached_s:g} s); p99 {report.p99_ms:.0f} ms", "",
             "| outcome | requests | p50 ms | p95 ms | p99 ms |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {o.outcome} | {o.count} | {o.p50_ms:.0f} | {o.p95_ms:.0f} | {o.p99_ms:.0f} |"
              for o in report.outcomes]
    if report.problem_lines:
        lines += ["", "Log lines not sent as they were:", ""]
        lines += [f"- {line}" for line in report.problem_lines]
    return "\n".join(lines) + "\n"
