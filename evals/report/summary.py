"""The run's report: ``summary.json`` (the machine view), ``summary.md`` (the human view) and
``details.json`` (notebooks, deltas, notes).

``summary.json`` (typed: ``evals.report.run_report.RunSummary``) has exactly the keys
``profile``, ``started_at``, ``git_commit``, ``run`` (id, previous run, baseline),
``parameters`` and ``settings`` (per notebook; each Settings field with its value and source),
``environment``, ``gates`` (rows of name, value, threshold, op, passed;
passed is null for a skipped gate) and ``metrics``. The markdown view is
``evals/report/markdown.py``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from evals.gates import GateResult
from evals.paths import REPO_ROOT
from evals.report.markdown import render_markdown
from evals.report.record import NotebookOutcome
from evals.report.run_report import (
    SUMMARY_KEYS,
    Compared,
    Environment,
    GateRow,
    RunInfo,
    RunReport,
    RunSummary,
    Setting,
)

__all__ = ["SUMMARY_KEYS", "NotebookOutcome", "RunReport", "RunSummary", "build_summary",
           "deltas", "fmt_number", "git_commit", "load_baseline", "write_report"]


def git_commit(cwd: Path = REPO_ROOT) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                           capture_output=True, text=True, timeout=10)
    return commit + ("-dirty" if dirty.stdout.strip() else "")


def build_summary(profile: str, started_at: str, commit: str | None,
                  gates: Iterable[GateResult], metrics: Mapping[str, object], *,
                  run: RunInfo | None = None,
                  parameters: Mapping[str, dict[str, object]] | None = None,
                  settings: Mapping[str, dict[str, Setting]] | None = None,
                  environment: Environment | None = None) -> RunSummary:
    """``run``: id, previous run and baseline; ``parameters``: per notebook, the papermill
    parameters; ``settings``: per notebook, field -> value and source (evals/knobs.py);
    ``environment``: the state folder and warnings such as an inherited DATABASE_URL."""
    return RunSummary(profile, started_at, commit, run or RunInfo(id="-"),
                      dict(parameters or {}), dict(settings or {}),
                      environment or Environment(), [GateRow.of(g) for g in gates],
                      dict(sorted(metrics.items())))


def load_baseline(path: str | Path | None) -> Compared | None:
    """The metrics of a ``summary.json`` used as the baseline (None when there is none)."""
    if path is None or not Path(path).is_file():
        return None
    return Compared(str(path), RunSummary.read(path).metrics)


def deltas(metrics: Mapping[str, object], base: Mapping[str, object] | None
           ) -> list[dict[str, object]]:
    """One row per metric of this run: value, baseline value and the difference."""
    base = base or {}
    rows = []
    for name in sorted(metrics):
        value, old = metrics[name], base.get(name)
        delta = None
        if isinstance(value, int | float) and isinstance(old, int | float):
            delta = float(value) - float(old)
        rows.append({"name": name, "value": value, "baseline": old, "delta": delta})
    return rows


def fmt_number(value: object, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return f"{value:.{digits}f}"


def write_report(out_dir: Path, report: RunReport) -> dict[str, Path]:
    """Write summary.json, summary.md and details.json into ``out_dir``; the markdown compares
    with the previous run and the baseline, and shows the judged questions after the gates."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = report.summary.metrics
    paths = {
        "json": out_dir / "summary.json",
        "markdown": out_dir / "summary.md",
        "details": out_dir / "details.json",
    }
    report.summary.write(paths["json"])
    paths["markdown"].write_text(render_markdown(report, out_dir))
    details = {
        "baseline": report.baseline.path if report.baseline else None,
        "notebooks": [n.__dict__ for n in report.notebooks],
        "gates": [{**r.as_summary_row(), "status": r.status, "note": r.note}
                  for r in report.results],
        "deltas": deltas(metrics, report.baseline.metrics if report.baseline else None),
        "previous_deltas": deltas(metrics, report.previous.metrics if report.previous
                                  else None),
    }
    paths["details"].write_text(json.dumps(details, indent=2, default=str) + "\n")
    return paths
