"""Gates: thresholds on recorded metrics, all in one file (``evals/gates.toml``).

A gate names a metric (``quality.recall_at_5``), an operator and a threshold, and says why the
threshold is what it is. Outcome of one gate:

- ``passed`` / ``failed`` when the metric has a value;
- ``failed`` when its notebook ran but did not record the metric, or the notebook failed;
- ``skipped`` when its notebook was not run (``--only``, or not in the profile) or the metric
  had nothing to measure in this run (value null, e.g. a sample without injection items).
"""

from __future__ import annotations

import math
import operator
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from evals.jsonish import array, number, records
from evals.paths import GATES_FILE

OPS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "ge": (">=", operator.ge),
    "gt": (">", operator.gt),
    "le": ("<=", operator.le),
    "lt": ("<", operator.lt),
    "eq": ("==", lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)),
}
Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Gate:
    name: str
    op: str
    threshold: float
    reason: str
    profiles: tuple[str, ...] = ()  # empty: every profile
    measured: tuple[float, ...] = ()  # the figure in repeated runs (python -m evals spread)
    measured_on: str = ""  # when, at which commit, with which command
    target: float | None = None  # the target when the threshold is looser (same op)

    @property
    def prefix(self) -> str:
        return self.name.split(".", 1)[0]

    def applies_to(self, profile: str) -> bool:
        return not self.profiles or profile in self.profiles


@dataclass(frozen=True)
class GateResult:
    name: str
    value: float | None
    threshold: float
    op: str
    status: Status
    note: str = ""

    @property
    def passed(self) -> bool | None:
        return None if self.status == "skipped" else self.status == "passed"

    def as_summary_row(self) -> dict[str, object]:
        """The row of ``summary.json``: name, value, threshold, op, passed (null if skipped)."""
        return {"name": self.name, "value": self.value, "threshold": self.threshold,
                "op": self.op, "passed": self.passed}


def parse_gates(data: Mapping[str, object]) -> list[Gate]:
    gates: list[Gate] = []
    for i, row in enumerate(records(data.get("gate", []))):
        missing = [k for k in ("name", "op", "value", "reason") if k not in row]
        if missing:
            raise ValueError(f"gate #{i + 1} lacks {missing}")
        if row["op"] not in OPS:
            raise ValueError(f"gate {row['name']}: op must be one of {sorted(OPS)}")
        if not str(row["reason"]).strip():
            raise ValueError(f"gate {row['name']}: the reason is empty")
        measured = row.get("measured", [])
        if not isinstance(measured, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in measured):
            raise ValueError(f"gate {row['name']}: measured must be a list of numbers")
        if measured and not str(row.get("measured_on", "")).strip():
            raise ValueError(f"gate {row['name']}: measured values need measured_on "
                             "(date, commit, command)")
        gates.append(Gate(name=str(row["name"]), op=row["op"], threshold=number(row["value"]),
                          reason=str(row["reason"]).strip(),
                          profiles=tuple(str(p) for p in array(row.get("profiles"))),
                          measured=tuple(float(v) for v in measured),
                          measured_on=str(row.get("measured_on", "")).strip(),
                          target=number(row["target"]) if "target" in row else None))
    names = [g.name for g in gates]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"gates defined twice: {sorted(dupes)}")
    return gates


def load_gates(path: str | Path = GATES_FILE, profile: str | None = None) -> list[Gate]:
    gates = parse_gates(tomllib.loads(Path(path).read_text()))
    return [g for g in gates if profile is None or g.applies_to(profile)]


def evaluate(gates: Iterable[Gate], metrics: Mapping[str, object], *,
             ran: Iterable[str] = (), failed: Iterable[str] = ()) -> list[GateResult]:
    """Apply ``gates`` to ``metrics``; ``ran`` / ``failed`` are result prefixes of notebooks."""
    ran_set, failed_set = set(ran), set(failed)
    out: list[GateResult] = []
    for gate in gates:
        value = metrics.get(gate.name)
        status: Status
        if gate.prefix in failed_set:
            status, note = "failed", f"notebook '{gate.prefix}' failed"
            value = value if isinstance(value, int | float) else None
        elif gate.name not in metrics:
            if gate.prefix in ran_set:
                status, note = "failed", "metric not recorded"
            else:
                status, note = "skipped", f"notebook '{gate.prefix}' not run"
        elif value is None:
            status, note = "skipped", "nothing to measure in this run"
        else:
            ok = OPS[gate.op][1](number(value), gate.threshold)
            status, note = ("passed", "") if ok else ("failed", gate.reason)
        out.append(GateResult(gate.name, None if value is None else number(value),
                              gate.threshold, gate.op, status, note))
    return out


def targets_missed(gates: Iterable[Gate], results: Iterable[GateResult]
                   ) -> list[tuple[Gate, GateResult]]:
    """Gates with a ``target`` that their value does not meet (the gate itself may pass)."""
    by_name = {r.name: r for r in results}
    out = []
    for gate in gates:
        result = by_name.get(gate.name)
        if gate.target is None or result is None or result.value is None:
            continue
        if not OPS[gate.op][1](result.value, gate.target):
            out.append((gate, result))
    return out


def any_failed(results: Iterable[GateResult]) -> bool:
    return any(r.status == "failed" for r in results)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"


def format_table(results: Iterable[GateResult], *, only_failed: bool = False,
                 with_notes: bool = True) -> str:
    """A plain-text table (the terminal view of the gate results)."""
    rows = [r for r in results if not only_failed or r.status == "failed"]
    header = ["gate", "value", "op", "threshold", "status"] + (["why"] if with_notes else [])
    body = [[r.name, _fmt(r.value), OPS[r.op][0], _fmt(r.threshold), r.status.upper()]
            + ([r.note] if with_notes else []) for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=False)]
    if with_notes:
        widths[-1] = min(widths[-1], 90)

    def line(cells: list[str]) -> str:
        text = "  ".join(str(c)[:w].ljust(w) for c, w in zip(cells, widths, strict=True))
        return text.rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(b) for b in body])
