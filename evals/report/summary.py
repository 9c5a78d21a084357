"""The run's report: ``summary.json`` (the machine view), ``summary.md`` (the human view) and
``details.json`` (notebooks, deltas, notes).

``summary.json`` has exactly the keys ``profile``, ``started_at``, ``git_commit``, ``run`` (id,
previous run, baseline), ``parameters`` and ``settings`` (per notebook; each Settings field with
its value and source), ``environment``, ``gates`` (rows of name, value, threshold, op, passed;
passed is null for a skipped gate) and ``metrics``. The markdown view is
``evals/report/markdown.py``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from evals.gates import Gate, GateResult
from evals.jsonish import mapping
from evals.paths import REPO_ROOT
from evals.report.markdown import render_markdown
from evals.report.record import NotebookOutcome

SUMMARY_KEYS = ("profile", "started_at", "git_commit", "run", "parameters", "settings",
                "environment", "gates", "metrics")


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
                  run: Mapping[str, object] | None = None,
                  parameters: Mapping[str, object] | None = None,
                  settings: Mapping[str, object] | None = None,
                  environment: Mapping[str, object] | None = None) -> dict[str, object]:
    """``run``: id, previous run and baseline; ``parameters``: per notebook, the papermill
    parameters; ``settings``: per notebook, field -> {value, source} (evals/knobs.py);
    ``environment``: the state folder and warnings such as an inherited DATABASE_URL."""
    return {
        "profile": profile,
        "started_at": started_at,
        "git_commit": commit,
        "run": dict(run or {}),
        "parameters": dict(parameters or {}),
        "settings": dict(settings or {}),
        "environment": dict(environment or {}),
        "gates": [g.as_summary_row() for g in gates],
        "metrics": dict(sorted(metrics.items())),
    }


def load_baseline(path: str | Path | None) -> dict[str, object] | None:
    if path is None or not Path(path).is_file():
        return None
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise ValueError(f"{path} is not a summary.json (no 'metrics' object)")
    return data


def deltas(metrics: Mapping[str, object], baseline: Mapping[str, object] | None
           ) -> list[dict[str, object]]:
    """One row per metric of this run: value, baseline value and the difference."""
    base = mapping(baseline.get("metrics")) if baseline else {}
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


def write_report(out_dir: Path, summary: Mapping[str, object], results: Sequence[GateResult],
                 notebooks: Sequence[NotebookOutcome], baseline: Mapping[str, object] | None,
                 baseline_path: str | None, *, previous: Mapping[str, object] | None = None,
                 gates: Sequence[Gate] = (), sections: Sequence[str] = ()) -> dict[str, Path]:
    """Write summary.json, summary.md and details.json into ``out_dir``; the markdown compares
    with the ``previous`` run and the ``baseline``; ``sections``: Markdown lines shown after
    the gates (each question judged, the flips against the baseline)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    delta_rows = deltas(mapping(summary["metrics"]), baseline)
    paths = {
        "json": out_dir / "summary.json",
        "markdown": out_dir / "summary.md",
        "details": out_dir / "details.json",
    }
    paths["json"].write_text(json.dumps({k: summary[k] for k in SUMMARY_KEYS}, indent=2) + "\n")
    paths["markdown"].write_text(render_markdown(
        summary, results, notebooks, baseline=baseline, baseline_path=baseline_path,
        previous=previous, gates=gates, out_dir=out_dir, sections=sections))
    details = {
        "baseline": baseline_path,
        "notebooks": [n.__dict__ for n in notebooks],
        "gates": [{**r.as_summary_row(), "status": r.status, "note": r.note} for r in results],
        "deltas": delta_rows,
        "previous_deltas": deltas(mapping(summary["metrics"]), previous),
    }
    paths["details"].write_text(json.dumps(details, indent=2, default=str) + "\n")
    return paths
