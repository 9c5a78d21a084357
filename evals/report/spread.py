"""The spread of the harness's figures over repeated runs, and where each gate sits in it.

A gate is only useful outside the noise of its own figure: a threshold that a repeat of the
same run can cross by chance fails builds that changed nothing. ``python -m evals spread``
runs the chosen notebooks N times with the same parameters (or reads ``summary.json`` files
that exist already, ``--from``), and writes per metric the values, min, median and max, and per
gate the margin between its threshold and the worst measured value, in units of the spread
(max - min). ``evals/gates.toml`` records the values next to each gate (``measured``); its
policy paragraph says how a threshold is set from them, and ``tests/evals/test_gates.py``
checks that every recorded gate still sits outside its noise.

The pure parts (``collect``, ``check_gate``, ``suggest``, ``to_markdown``) are tested in
``tests/evals/test_spread.py`` on made-up summaries.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from evals.gates import OPS, Gate
from evals.report.run_report import RunSummary

NOISE_FACTOR = 2.0  # a threshold sits at least this many spreads beyond the worst run
Verdict = Literal["outside the noise", "inside the noise", "failed in a run", "deterministic",
                  "not measured"]


@dataclass(frozen=True)
class Spread:
    """The values one metric took over repeated runs (runs that did not record it left out)."""

    metric: str
    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))

    @property
    def range(self) -> float:
        return self.max - self.min

    def as_row(self) -> dict[str, object]:
        return {"metric": self.metric, "n": self.n, "min": self.min, "median": self.median,
                "max": self.max, "range": self.range, "values": list(self.values)}


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and value == value:  # NaN is "nothing measured"
        return float(value)
    return None


def collect(summaries: Iterable[RunSummary]) -> dict[str, Spread]:
    """Per metric, its numeric values over the summaries (``summary.json``), in order."""
    values: dict[str, list[float]] = {}
    for summary in summaries:
        for name, value in summary.metrics.items():
            number = _number(value)
            if number is not None:
                values.setdefault(name, []).append(number)
    return {name: Spread(name, tuple(vals)) for name, vals in sorted(values.items())}


@dataclass(frozen=True)
class GateCheck:
    gate: Gate
    spread: Spread | None
    margin: float | None  # from the worst run to the threshold, positive on the passing side
    verdict: Verdict

    @property
    def margin_in_spreads(self) -> float | None:
        if self.margin is None or self.spread is None or self.spread.range == 0:
            return None
        return self.margin / self.spread.range


def check_gate(gate: Gate, spread: Spread | None,
               noise_factor: float = NOISE_FACTOR) -> GateCheck:
    """Where ``gate`` sits against the measured values of its metric.

    ``failed in a run``: some run did not pass; ``deterministic``: every run gave the same value
    (the margin is then a question of what a regression is, not of noise); ``outside the
    noise``: the threshold is at least ``noise_factor`` spreads beyond the worst run; else
    ``inside the noise``."""
    if spread is None or spread.n == 0:
        return GateCheck(gate, spread, None, "not measured")
    passes = OPS[gate.op][1]
    if not all(passes(v, gate.threshold) for v in spread.values):
        if gate.op == "eq":
            miss = -max(abs(v - gate.threshold) for v in spread.values)
            return GateCheck(gate, spread, miss, "failed in a run")
        worst = spread.min if gate.op in ("ge", "gt") else spread.max
        return GateCheck(gate, spread, _margin(gate, worst), "failed in a run")
    if gate.op == "eq":
        return GateCheck(gate, spread, 0.0, "deterministic")
    worst = spread.min if gate.op in ("ge", "gt") else spread.max
    margin = _margin(gate, worst)
    if spread.range == 0:
        return GateCheck(gate, spread, margin, "deterministic")
    verdict: Verdict = ("outside the noise" if margin >= noise_factor * spread.range
                        else "inside the noise")
    return GateCheck(gate, spread, margin, verdict)


def _margin(gate: Gate, worst: float) -> float:
    return worst - gate.threshold if gate.op in ("ge", "gt") else gate.threshold - worst


def suggest(op: str, spread: Spread, noise_factor: float = NOISE_FACTOR,
            resolution: float = 0.0) -> float:
    """The loosest-needed threshold by the policy: ``noise_factor`` spreads (at least one
    ``resolution``, e.g. one item's worth of a rate) beyond the worst run. A starting point: the
    reason in gates.toml says what a real regression of the figure looks like."""
    step = max(noise_factor * spread.range, resolution)
    if op in ("ge", "gt"):
        return spread.min - step
    if op in ("le", "lt"):
        return spread.max + step
    return spread.median


def check_gates(gates: Iterable[Gate], spreads: Mapping[str, Spread],
                noise_factor: float = NOISE_FACTOR) -> list[GateCheck]:
    """The gates whose notebook the spreads cover (metric prefix seen), each checked."""
    prefixes = {name.split(".", 1)[0] for name in spreads}
    return [check_gate(g, spreads.get(g.name), noise_factor) for g in gates
            if g.prefix in prefixes]


# --- the report -------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.4g}" if abs(value) >= 1 else f"{value:.4f}"


def to_markdown(spreads: Mapping[str, Spread], checks: Sequence[GateCheck],
                meta: Mapping[str, object]) -> str:
    lines = [f"# Spread of {meta.get('notebooks', '?')} over {meta.get('repeats', '?')} runs",
             "",
             f"Profile {meta.get('profile', '?')}, measured {meta.get('date', '?')} at commit "
             f"{meta.get('git_commit') or '?'}; command: `{meta.get('command', '')}`.",
             f"Load average at the start: {meta.get('load_average', '?')}.", ""]
    if meta.get("failed_runs"):
        lines += [f"Runs with a failed notebook (left out): {meta['failed_runs']}", ""]
    lines += ["## Gates", "",
              "| gate | op | threshold | min | median | max | margin | margin / spread | "
              "verdict |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in checks:
        s = c.spread
        lines.append(
            f"| {c.gate.name} | {OPS[c.gate.op][0]} | {_fmt(c.gate.threshold)} | "
            f"{_fmt(s.min if s else None)} | {_fmt(s.median if s else None)} | "
            f"{_fmt(s.max if s else None)} | {_fmt(c.margin)} | "
            f"{_fmt(c.margin_in_spreads)} | {c.verdict} |")
    lines += ["", "## Every metric", "", "| metric | n | min | median | max | spread | values |",
              "|---|---|---|---|---|---|---|"]
    for s in spreads.values():
        values = ", ".join(_fmt(v) for v in s.values)
        lines.append(f"| {s.metric} | {s.n} | {_fmt(s.min)} | {_fmt(s.median)} | "
                     f"{_fmt(s.max)} | {_fmt(s.range)} | {values} |")
    return "\n".join(lines) + "\n"


def to_json(spreads: Mapping[str, Spread], checks: Sequence[GateCheck],
            meta: Mapping[str, object]) -> dict[str, object]:
    return {**dict(meta),
            "gates": [{"name": c.gate.name, "op": c.gate.op, "threshold": c.gate.threshold,
                       "margin": c.margin, "margin_in_spreads": c.margin_in_spreads,
                       "verdict": c.verdict,
                       **({k: v for k, v in c.spread.as_row().items() if k != "metric"}
                          if c.spread else {})} for c in checks],
            "metrics": [s.as_row() for s in spreads.values()]}


def write(out_dir: Path, stem: str, spreads: Mapping[str, Spread], checks: Sequence[GateCheck],
          meta: Mapping[str, object]) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"{stem}.json", "markdown": out_dir / f"{stem}.md"}
    paths["json"].write_text(json.dumps(to_json(spreads, checks, meta), indent=2) + "\n")
    paths["markdown"].write_text(to_markdown(spreads, checks, meta))
    return paths


def meta_for(profile: str, notebooks: Sequence[str], repeats: int, commit: str | None,
             command: str, failed_runs: Sequence[int] = ()) -> dict[str, object]:
    import os

    try:
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {"profile": profile, "notebooks": ", ".join(notebooks), "repeats": repeats,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "git_commit": commit,
            "command": command, "load_average": load, "failed_runs": list(failed_runs)}
