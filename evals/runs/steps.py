"""What each step of ``python -m evals run`` hands the next (``evals.runner.run``): the run
started (``Started``), the notebooks executed (``Executed``), the verdicts (``Verdicts``), and
what the report step returns (``RunResult``)."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from evals import gates as gates_mod
from evals.judge.outcome import Judged
from evals.report.record import NotebookOutcome
from evals.report.run_report import RunReport, RunSummary, Setting


@dataclass
class Started:
    """What the plan step decided for this run: its id, its folders, the run it is compared
    with, and the warnings so far (the notebooks add theirs)."""

    run_id: str
    started_at: str
    out_root: Path
    profile_root: Path
    previous: tuple[str, RunSummary] | None
    warnings: list[str]


@dataclass
class Executed:
    """What the notebooks left: their outcomes, the metrics, parameters and settings they
    recorded, and the questions their rows are judged by (read in a thread meanwhile)."""

    outcomes: list[NotebookOutcome]
    metrics: dict[str, object]
    parameters: dict[str, dict[str, object]]
    settings: dict[str, dict[str, Setting]]
    questions: Future[list[dict[str, object]]]


@dataclass
class Verdicts:
    """The judge step's output: every gate's result, the questions asked per gate, and each
    question judged against the baseline."""

    results: list[gates_mod.GateResult]
    counts: dict[str, tuple[int, int]]
    judged: Judged


@dataclass
class RunResult:
    exit_code: int
    report: RunReport
    paths: dict[str, Path]
    judged: Judged = field(default_factory=lambda: Judged([]))

    @property
    def summary(self) -> RunSummary:
        return self.report.summary

    @property
    def gates(self) -> list[gates_mod.GateResult]:
        return self.report.results

    @property
    def notebooks(self) -> list[NotebookOutcome]:
        return self.report.notebooks
