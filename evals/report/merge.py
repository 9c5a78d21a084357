"""An ``--only`` run merged into its folder's latest report.

``reports/<folder>/summary.json`` is the folder's current picture. A run of some notebooks
(``--only``) replaces their metrics, parameters, Settings and gate rows, and keeps the other
notebooks' rows from the summary it merges into, each gate row marked with the run it came from.
The run's own folder (``runs/<id>/``) keeps only what it ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from evals.gates import GateResult, Status
from evals.jsonish import array, mapping, number, records
from evals.report.record import NotebookOutcome


def _prefix(name: str) -> str:
    return name.split(".", 1)[0]


def load_latest(folder: Path) -> tuple[dict[str, object], list[dict[str, object]]] | None:
    """The folder's summary.json and its details' notebook rows, if both are there."""
    summary, details = folder / "summary.json", folder / "details.json"
    if not summary.is_file():
        return None
    rows = json.loads(details.read_text()).get("notebooks", []) if details.is_file() else []
    return json.loads(summary.read_text()), rows


def merge(old: Mapping[str, object], old_notebooks: Sequence[Mapping[str, object]],
          new: Mapping[str, object], results: Sequence[GateResult],
          outcomes: Sequence[NotebookOutcome]
          ) -> tuple[dict[str, object], list[GateResult], list[NotebookOutcome]]:
    """``new`` (a run of the notebooks in ``outcomes``) over ``old``."""
    rerun = {o.name for o in outcomes}
    old_id = mapping(old.get("run")).get("id", "?")
    metrics = {k: v for k, v in mapping(old.get("metrics")).items() if _prefix(k) not in rerun}
    metrics.update(mapping(new.get("metrics")))
    merged = dict(new)
    merged["metrics"] = dict(sorted(metrics.items()))
    for key in ("parameters", "settings"):
        kept = {k: v for k, v in mapping(old.get(key)).items() if k not in rerun}
        merged[key] = {**kept, **mapping(new.get(key))}
    kept_rows = {str(row["name"]): row for row in records(old.get("gates"))
                 if _prefix(str(row["name"])) not in rerun}
    gates: list[GateResult] = []
    for result in results:  # the gates of notebooks not run now keep their last result
        row = kept_rows.get(result.name)
        if _prefix(result.name) in rerun or row is None:
            gates.append(result)
            continue
        words: dict[object, Status] = {True: "passed", False: "failed", None: "skipped"}
        status = words[row.get("passed")]
        value = row.get("value")
        gates.append(GateResult(str(row["name"]), None if value is None else number(value),
                                number(row["threshold"]), str(row["op"]), status,
                                f"from run {old_id}"))
    order = [r["name"] for r in records(old.get("gates"))]
    gates.sort(key=lambda g: order.index(g.name) if g.name in order else len(order))
    merged["gates"] = [g.as_summary_row() for g in gates]
    kept_runs = [NotebookOutcome.from_row(row) for row in old_notebooks
                 if row.get("name") not in rerun]
    run = dict(mapping(merged.get("run")))
    run["rows_from"] = sorted({*map(str, array(mapping(old.get("run")).get("rows_from"))),
                               str(old_id)} - {run.get("id")})
    merged["run"] = run
    return merged, gates, kept_runs + list(outcomes)


def ran_notebooks(outcomes: Iterable[NotebookOutcome]) -> list[str]:
    return [o.name for o in outcomes]
