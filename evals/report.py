"""The run's report: ``summary.json`` (the machine view), ``summary.md`` (the human view) and
``details.json`` (notebooks, deltas, notes).

``summary.json`` has exactly the keys ``profile``, ``started_at``, ``git_commit``, ``gates``
(rows of name, value, threshold, op, passed; passed is null for a skipped gate) and ``metrics``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.gates import OPS, GateResult
from evals.paths import REPO_ROOT

SUMMARY_KEYS = ("profile", "started_at", "git_commit", "gates", "metrics")


@dataclass
class NotebookOutcome:
    name: str
    path: str
    executed: str
    seconds: float
    ok: bool
    error: str = ""
    artifacts: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)


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
                  gates: Iterable[GateResult], metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "profile": profile,
        "started_at": started_at,
        "git_commit": commit,
        "gates": [g.as_summary_row() for g in gates],
        "metrics": dict(sorted(metrics.items())),
    }


def load_baseline(path: str | Path | None) -> dict[str, Any] | None:
    if path is None or not Path(path).is_file():
        return None
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise ValueError(f"{path} is not a summary.json (no 'metrics' object)")
    return data


def deltas(metrics: Mapping[str, Any], baseline: Mapping[str, Any] | None
           ) -> list[dict[str, Any]]:
    """One row per metric of this run: value, baseline value and the difference."""
    base = (baseline or {}).get("metrics", {}) if baseline else {}
    rows = []
    for name in sorted(metrics):
        value, old = metrics[name], base.get(name)
        delta = None
        if isinstance(value, int | float) and isinstance(old, int | float):
            delta = float(value) - float(old)
        rows.append({"name": name, "value": value, "baseline": old, "delta": delta})
    return rows


def fmt_number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return f"{value:.{digits}f}"


def fmt_delta(delta: float | None) -> str:
    """Signed, four decimals: a drop of one recall point shows as -0.0100."""
    if delta is None:
        return "new"
    if abs(delta) < 5e-5:
        return "0"
    return f"{delta:+.4f}"


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(summary: Mapping[str, Any], results: Sequence[GateResult],
                    delta_rows: Sequence[Mapping[str, Any]], notebooks: Sequence[NotebookOutcome],
                    *, baseline_path: str | None, out_dir: Path) -> str:
    by_name = {r["name"]: r for r in delta_rows}
    failed = [r for r in results if r.status == "failed"]
    verdict = "FAILED" if failed or not all(n.ok for n in notebooks) else "PASSED"
    parts = [
        f"# Harness report: profile `{summary['profile']}` ({verdict})",
        "",
        f"- started: {summary['started_at']}",
        f"- git commit: `{summary['git_commit']}`",
        f"- baseline: `{baseline_path}`" if baseline_path else "- baseline: none",
        f"- gates: {sum(r.status == 'passed' for r in results)} passed, {len(failed)} failed, "
        f"{sum(r.status == 'skipped' for r in results)} skipped",
        "",
        "## Gates",
        "",
        "Gated figures of the golden set are those of its test split; `dev` is the same metric "
        "on the dev split, where rules and thresholds were tuned (`-`: not split).",
        "",
        _md_table(
            ["gate", "value", "dev", "op", "threshold", "baseline", "delta", "status", "note"],
            [[f"`{r.name}`", fmt_number(r.value),
              fmt_number(summary["metrics"].get(dev_name(r.name))), OPS[r.op][0],
              fmt_number(r.threshold),
              fmt_number(by_name.get(r.name, {}).get("baseline")),
              fmt_delta(by_name.get(r.name, {}).get("delta")) if r.value is not None else "-",
              ("**FAILED**" if r.status == "failed" else r.status),
              r.note if r.status != "passed" else ""] for r in results],
        ),
        "",
        "## Notebooks",
        "",
        _md_table(
            ["notebook", "status", "seconds", "executed"],
            [[n.name, "ok" if n.ok else f"**failed**: {n.error[:200]}", f"{n.seconds:.1f}",
              f"[{Path(n.executed).name}]({_rel(n.executed, out_dir)})"] for n in notebooks],
        ),
    ]
    notes = [(n.name, k, v) for n in notebooks for k, v in n.notes.items()]
    if notes:
        parts += ["", "## Notes", ""] + [f"- {name} / {key}: {text}" for name, key, text in notes]
    tables = [(n.name, title, table) for n in notebooks for title, table in n.tables.items()]
    for name, title, table in tables:
        parts += ["", f"## {name}: {title}", "", table]
    plots = [(n.name, a) for n in notebooks for a in n.artifacts if a.endswith(".png")]
    if plots:
        parts += ["", "## Plots", ""]
        for name, artifact in plots:
            parts += [f"### {name}: {Path(artifact).stem}", "", f"![{Path(artifact).stem}]"
                      f"({_rel(artifact, out_dir)})", ""]
    parts += [
        "",
        "## Metrics (delta against the baseline)",
        "",
        _md_table(["metric", "value", "baseline", "delta"],
                  [[f"`{r['name']}`", fmt_number(r["value"]), fmt_number(r["baseline"]),
                    fmt_delta(r["delta"]) if r["value"] is not None else "-"]
                   for r in delta_rows]),
        "",
    ]
    return "\n".join(parts)


def dev_name(name: str) -> str:
    """The dev split's metric beside a gated one: ``quality.x`` -> ``quality.dev.x``."""
    prefix, _, rest = name.partition(".")
    return f"{prefix}.dev.{rest}"


def _rel(path: str | Path, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def write_report(out_dir: Path, summary: Mapping[str, Any], results: Sequence[GateResult],
                 notebooks: Sequence[NotebookOutcome], baseline: Mapping[str, Any] | None,
                 baseline_path: str | None) -> dict[str, Path]:
    """Write summary.json, summary.md and details.json into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    delta_rows = deltas(summary["metrics"], baseline)
    paths = {
        "json": out_dir / "summary.json",
        "markdown": out_dir / "summary.md",
        "details": out_dir / "details.json",
    }
    paths["json"].write_text(json.dumps({k: summary[k] for k in SUMMARY_KEYS}, indent=2) + "\n")
    paths["markdown"].write_text(render_markdown(summary, results, delta_rows, notebooks,
                                                 baseline_path=baseline_path, out_dir=out_dir))
    details = {
        "baseline": baseline_path,
        "notebooks": [n.__dict__ for n in notebooks],
        "gates": [{**r.as_summary_row(), "status": r.status, "note": r.note} for r in results],
        "deltas": delta_rows,
    }
    paths["details"].write_text(json.dumps(details, indent=2, default=str) + "\n")
    return paths
