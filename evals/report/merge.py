"""An ``--only`` run merged into its folder's latest report.

``reports/<folder>/summary.json`` is the folder's current picture. A run of some notebooks
(``--only``) replaces their metrics, parameters, Settings and gate rows, and keeps the other
notebooks' rows from the summary it merges into, each gate row marked with the run it came from.
The run's own folder (``runs/<id>/``) keeps only what it ran.

A merged run never inherits a failure: a row kept from an earlier run that failed there is
shown as skipped (``not run here: failed in run <id>``), a notebook that failed there is left
out, and the run's exit code is its own (``evals/runner.py``). The gates judged from a
notebook's rows under another prefix (``baseline.*``: the quality notebook's questions against
the dataset's baseline) belong to that notebook.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from evals.gates import GateResult, Status
from evals.report.record import NotebookOutcome
from evals.report.run_report import GateRow, RunSummary

# gates named apart from the notebook whose rows they judge
OWNER = {"baseline": "quality"}


def _prefix(name: str) -> str:
    head = name.split(".", 1)[0]
    return OWNER.get(head, head)


def load_latest(folder: Path) -> tuple[RunSummary, list[NotebookOutcome]] | None:
    """The folder's summary.json and its details' notebooks, if the summary is there."""
    summary, details = folder / "summary.json", folder / "details.json"
    if not summary.is_file():
        return None
    rows = json.loads(details.read_text()).get("notebooks", []) if details.is_file() else []
    return RunSummary.read(summary), [NotebookOutcome.from_row(row) for row in rows]


_WORDS: dict[bool | None, Status] = {True: "passed", False: "failed", None: "skipped"}


def merge(old: RunSummary, old_notebooks: Sequence[NotebookOutcome], new: RunSummary,
          results: Sequence[GateResult], outcomes: Sequence[NotebookOutcome]
          ) -> tuple[RunSummary, list[GateResult], list[NotebookOutcome]]:
    """``new`` (a run of the notebooks in ``outcomes``) over ``old``."""
    rerun = {o.name for o in outcomes}
    metrics = {k: v for k, v in old.metrics.items() if _prefix(k) not in rerun}
    metrics.update(new.metrics)
    kept_rows = {row.name: row for row in old.gates if _prefix(row.name) not in rerun}
    gates: list[GateResult] = []
    for result in results:  # the gates of notebooks not run now keep their last result
        row = kept_rows.get(result.name)
        if _prefix(result.name) in rerun or row is None or result.status != "skipped":
            gates.append(result)
            continue
        status = _WORDS[row.passed]
        note = f"from run {old.run.id}"
        if status == "failed":  # never inherited: this run did not judge it
            status, note = "skipped", f"not run here: failed in run {old.run.id}"
        gates.append(GateResult(row.name, row.value, row.threshold, row.op, status, note))
    order = [row.name for row in old.gates]
    gates.sort(key=lambda g: order.index(g.name) if g.name in order else len(order))
    kept_runs = [n for n in old_notebooks if n.name not in rerun and n.ok]
    rows_from = sorted({*(old.run.rows_from or []), old.run.id} - {new.run.id})
    merged = replace(
        new, metrics=dict(sorted(metrics.items())),
        parameters={**{k: v for k, v in old.parameters.items() if k not in rerun},
                    **new.parameters},
        settings={**{k: v for k, v in old.settings.items() if k not in rerun}, **new.settings},
        gates=[GateRow.of(g) for g in gates], run=replace(new.run, rows_from=rows_from))
    return merged, gates, kept_runs + list(outcomes)


def ran_notebooks(outcomes: Iterable[NotebookOutcome]) -> list[str]:
    return [o.name for o in outcomes]
