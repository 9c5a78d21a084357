"""The report step of ``python -m evals run``: the run's report written in its folder and,
merged with the last one under ``--only``, in the profile's (``evals.report``: summary files,
the page, the plots); then a dataset's first baseline and the JUnit file when asked for."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TextIO

from evals import gates as gates_mod
from evals import knobs
from evals.judge import baseline as own
from evals.judge.outcome import Judged
from evals.report import figures as report_plots
from evals.report import merge
from evals.report import summary as report
from evals.report.page import write_run_page
from evals.report.run_report import (
    Compared,
    DatasetInfo,
    Environment,
    RunInfo,
    RunReport,
    RunSummary,
)
from evals.runs.execute import rel
from evals.runs.plan import Plan, RunOptions
from evals.runs.steps import Executed, RunResult, Started, Verdicts


def write_run_report(plan: Plan, options: RunOptions, started: Started, executed: Executed,
                     verdicts: Verdicts, stream: TextIO) -> RunResult:
    """The report in the run's folder and, merged with the last one under ``--only``, in the
    profile's; then the dataset's baseline and the JUnit file when asked for."""
    this = _run_report(plan, options, started, executed, verdicts)
    judged, out_root, profile_root = verdicts.judged, started.out_root, started.profile_root
    title = f"{plan.folder}: run {started.run_id}"
    report_plots.copy_beside(executed.outcomes, out_root)
    paths = report.write_report(out_root, this)
    write_run_page(judged, out_root, title, executed.outcomes, this)
    folder_report = this
    if plan.writes_report:
        latest = merge.load_latest(profile_root) if options.only else None
        if latest is not None:  # --only: the folder's picture keeps the other notebooks' rows
            merged, kept, notebooks = merge.merge(latest[0], latest[1], this.summary,
                                                  this.results, this.notebooks)
            folder_report = replace(this, summary=merged, results=kept, notebooks=notebooks)
        report_plots.copy_beside(folder_report.notebooks, profile_root)
        paths = report.write_report(profile_root, folder_report)
        write_run_page(judged, profile_root, title, folder_report.notebooks, this)
    ok = all(o.ok for o in this.notebooks)  # this run's own: nothing inherited
    if plan.write_baseline is not None and judged.questions and ok:
        paths["baseline"] = _write_baseline(plan, options, started, folder_report.summary,
                                            judged, stream)
    if options.junit_xml is not None:
        paths["junit"] = judged.write_junit(options.junit_xml, folder_report.results)
    failed = gates_mod.any_failed(this.results) or not ok
    return RunResult(1 if failed else 0, folder_report, paths, judged)


def _run_report(plan: Plan, options: RunOptions, started: Started, executed: Executed,
                verdicts: Verdicts) -> RunReport:
    """This run's report: its summary (what ran, on what, with which settings), compared with
    the baseline and the previous run."""
    dataset, prev = plan.dataset, started.previous
    baseline_path = plan.baseline.path if plan.baseline else plan.summary_baseline
    run_info = RunInfo(
        id=started.run_id, folder=rel(started.out_root), report=plan.folder,
        dataset=(DatasetInfo.from_json(dataset.describe(), "dataset") if dataset else None),
        command=options.command,
        overrides={k: v for k, v in options.overrides.items() if k != "dataset"},
        previous=prev[0] if prev else None,
        baseline=rel(baseline_path) if baseline_path else None,
        gate_sources={k: rel(Path(v)) for k, v in plan.gate_sources.items()},
        generator=plan.generator.why if plan.generator else None,
        overridden=list(plan.overridden),
        env_file=str(options.env_file) if options.env_file else None)
    environment = Environment(rel(knobs.harness_state_dir()), started.warnings)
    summary = report.build_summary(options.profile, started.started_at, report.git_commit(),
                                   verdicts.results, executed.metrics, run=run_info,
                                   parameters=executed.parameters, settings=executed.settings,
                                   environment=environment)
    baseline = (Compared(rel(plan.baseline.path), plan.baseline.metrics) if plan.baseline
                else report.load_baseline(plan.summary_baseline))
    if baseline is not None and baseline_path is not None:
        baseline = Compared(rel(baseline_path), baseline.metrics)
    return RunReport(summary, verdicts.results, executed.outcomes, baseline,
                     prev[1] if prev else None, plan.gates, verdicts.judged, options.junit_xml,
                     verdicts.counts)


def _write_baseline(plan: Plan, options: RunOptions, started: Started, summary: RunSummary,
                    judged: Judged, stream: TextIO) -> Path:
    """A dataset's first baseline, from this run's judged questions."""
    assert plan.write_baseline is not None
    origin = own.Origin(started.run_id, summary.git_commit, started.started_at,
                        options.profile)
    path = own.write(plan.write_baseline, judged.questions, origin, metrics=summary.metrics,
                     parameters=summary.parameters, settings=summary.settings_json())
    print(f"evals: wrote the baseline {plan.write_baseline} ({len(judged.questions)} "
          "questions): commit it; later runs are judged against it", file=stream)
    return path
