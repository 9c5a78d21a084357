"""Run the notebooks of a profile with papermill, collect their results, apply the gates and
write ``reports/<profile>/``.

A run is kept in ``reports/<profile>/runs/<id>/`` (the id is its start time): each notebook
gets its own folder ``<name>/`` there as ``output_dir`` (plots, ``<name>.results.json`` and
``<name>.settings.json``); the executed notebook lands beside it, and the report
(``summary.json``, ``summary.md``, compared with the previous run and the baseline, and
``questions.jsonl``, each question judged) is written there and copied to
``reports/<profile>/``. The notebooks' stderr (progress bars) is streamed to the terminal while
they run.

The parts: ``evals.runs.plan`` (options, folders, gates, baseline), ``evals.runs.execute``
(papermill), ``evals.judge`` (each question, flips against a dataset's baseline, JUnit),
``evals.runs.report`` (the report step, writing ``evals.report``'s summary files and page) and
``evals.runs.steps`` (what each step hands the next). A run on a dataset of one's own is gated
by the safety counts that hold for any data, its own ``gates.toml`` and its own baseline
(``<reports-dir>/<name>/baseline.json``, written by its first run).
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from evals import gates as gates_mod
from evals import knobs, nbcompare, profiles, servers, team_settings
from evals.judge.outcome import Judged, judge_run
from evals.judge.questions import read_rows
from evals.report import record, run_compare
from evals.report.rates import question_counts
from evals.report.run_report import SummaryError, settings_from_json
from evals.runs import warm_kernel
from evals.runs.execute import (
    KERNEL,
    RecordedSettings,
    ensure_kernel,
    execute,
    rel,
    settings_of,
)
from evals.runs.plan import (
    Plan,
    RunOptions,
    UsageError,
    check_environment,
    check_settings_override,
    make_plan,
    new_run_id,
    notebook_parameters,
    report_folder,
    split_overrides,
    team_for,
)
from evals.runs.report import write_run_report
from evals.runs.steps import Executed, RunResult, Started, Verdicts

__all__ = ["KERNEL", "RecordedSettings", "RunOptions", "RunResult", "UsageError",
           "check_environment", "check_settings_override", "ensure_kernel",
           "notebook_parameters", "report_folder", "run", "split_overrides"]
_settings_of = settings_of
_rel = rel


def run(options: RunOptions) -> RunResult:
    """The whole run; returns the exit code (0 ok, 1 a gate or a notebook failed): plan,
    execute the notebooks, judge them, report."""
    stream = options.stream or sys.stderr
    plan = make_plan(options)
    started = start_run(plan, options, stream)
    executed = execute_notebooks(plan, options, started, stream)
    verdicts = judge_notebooks(plan, options, started, executed)
    return write_run_report(plan, options, started, executed, verdicts, stream)


def start_run(plan: Plan, options: RunOptions, stream: TextIO) -> Started:
    """The plan made concrete: the environment of the notebooks, the kernel, the run's id and
    folder, the run it is compared with (before a notebook runs), what is left out and why."""
    dataset, specs = plan.dataset, plan.specs
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ensure_kernel()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    runs = run_compare.runs_dir(plan.folder, options.reports_dir)
    run_id = options.run_id or new_run_id(runs)
    out_root = runs / run_id
    try:
        prev = run_compare.previous_run(plan.folder, run_id, options.reports_dir)
    except SummaryError as exc:  # before a notebook runs: say which field of which file
        raise UsageError(f"the previous run cannot be compared with: {exc}") from None
    out_root.mkdir(parents=True, exist_ok=True)
    warnings = list(plan.warnings)
    for text in warnings:
        print(f"evals: WARNING: {text}", file=stream)
    on = f" on dataset {dataset.name} ({dataset.root})" if dataset else ""
    print(f"evals: profile {options.profile}{on}: {len(specs)} notebook(s) -> {out_root}",
          file=stream)
    if plan.generator is not None:
        print(f"evals: quality answers with {plan.generator.why}", file=stream)
    for text in plan.overridden:
        print(f"evals: {text}", file=stream)
    for name in plan.left_out:
        print(f"evals: {name} left out: it measures a synthetic corpus and public collections, "
              f"not the dataset's notes (add --only {name} to run it)", file=stream)
    return Started(run_id, started_at, out_root, options.reports_dir / plan.folder, prev,
                   warnings)


def execute_notebooks(plan: Plan, options: RunOptions, started: Started,
                      stream: TextIO) -> Executed:
    """Each notebook in turn with papermill, what it recorded collected; then the embedded
    servers this run started are stopped (or left running for a tuning loop)."""
    specs, out_root = plan.specs, started.out_root
    dirs = servers.state_dirs(knobs.harness_state_dir(),
                              [v for v in [options.overrides.get("state_dir")]
                               if isinstance(v, str)])
    before = servers.running(dirs)
    executed = Executed([], {}, {}, {}, _questions(plan))  # the questions read meanwhile
    warm_state = knobs.harness_state_dir() if warm_kernel.enabled(options.profile) else None
    for i, spec in enumerate(specs, start=1):
        out_dir = out_root / spec.name
        out_dir.mkdir(parents=True, exist_ok=True)
        record.clear_results(out_dir)
        knobs.clear_recorded(out_dir)
        team = team_for(plan, spec, options.profile)
        team_settings.write(out_dir, team)
        params = profiles.parameters(spec, options.profile, out_dir,
                                     plan.per_overrides[spec.name],
                                     team=[f for f in team.settings
                                           if f not in team_settings.HARNESS_KEPT])
        executed.parameters[spec.name] = {k: v for k, v in params.items() if k != "output_dir"}
        shown = ", ".join(f"{k}={v}" for k, v in params.items() if k != "output_dir")
        print(f"[{i}/{len(specs)}] {spec.name} ({spec.path}) {shown}", file=stream, flush=True)
        outcome = execute(spec, params, out_root / f"{spec.stem}.ipynb", out_dir, stream,
                          warm_state)
        executed.outcomes.append(outcome)
        for result in record.load_results(out_dir):
            executed.metrics.update(result["metrics"])
        recorded = settings_of(out_dir)
        if recorded["fields"]:
            executed.settings.update(settings_from_json({spec.name: recorded["fields"]},
                                                        "settings"))
        started.warnings += [w for w in recorded["warnings"] if w not in started.warnings]
        state = "ok" if outcome.ok else f"FAILED: {outcome.error}"
        print(f"[{i}/{len(specs)}] {spec.name}: {state} in {outcome.seconds:.1f} s",
              file=stream, flush=True)
    _servers_after(options, before, dirs, stream)
    return executed


def _servers_after(options: RunOptions, before: servers.Snapshot, dirs: list[Path],
                   stream: TextIO) -> None:
    """The embedded servers this run started: stopped, or kept for the next tuning run."""
    if options.keep_services or options.profile in servers.KEPT_BY:
        for name in servers.started(before, dirs):  # the next run of a tuning loop reuses them
            print(f"evals: left running for the next run: {name} (stop them with "
                  "`rag-core services down` in the checkout)", file=stream)
    else:  # a run stops every embedded server it started
        for name in servers.stop_started(before, dirs):
            print(f"evals: stopped {rel(Path(name.split(' of ', 1)[1]))}: "
                  f"{name.split(' ', 1)[0]} (started by this run)", file=stream)


def judge_notebooks(plan: Plan, options: RunOptions, started: Started,
                    executed: Executed) -> Verdicts:
    """The gates on the recorded metrics (skipped where nothing could be measured: a dataset
    of one's own, the tune and smoke profiles), then each question against the baseline."""
    outcomes, metrics, dataset = executed.outcomes, executed.metrics, plan.dataset
    results = gates_mod.evaluate(plan.gates, metrics, ran=[o.name for o in outcomes],
                                 failed=[o.name for o in outcomes if not o.ok])
    counts = question_counts(read_rows(started.out_root), [r.name for r in results], metrics)
    if plan.own_data and dataset is not None:
        from evals.datasets.gating import too_few

        results = too_few(_not_measured(results, "nothing to measure on dataset "
                                                 f"{dataset.name}"), metrics,
                          asked={name: n for name, (_, n) in counts.items()})
    elif options.profile in ("tune", "smoke"):
        results = _not_measured(results, f"not measured: the {options.profile} profile skips "
                                         "this part")
    results += nbcompare.gate_results(
        options.profile, plan.specs, started.out_root, [o.name for o in outcomes if o.ok],
        checked=not plan.own_data and not any(plan.per_overrides.values()))
    judged = _judge(plan, started.out_root, executed.questions)
    return Verdicts(results + judged.gates(), counts, judged)


def _questions(plan: Plan) -> Future[list[dict[str, object]]]:
    """The questions a quality notebook's rows are judged by, read in a thread while the
    notebooks run (the golden set's: pandas and the notes, 1-2 s the runner waited for after
    the last notebook)."""
    def read() -> list[dict[str, object]]:
        if plan.dataset is not None:
            items = plan.dataset.qa.to_dict("records")
        elif any(s.name == "quality" for s in plan.specs):
            from evals.datasets import default_dataset

            items = default_dataset().qa.to_dict("records")
        else:
            items = []
        return [{str(k): v for k, v in i.items()} for i in items]

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="questions")
    future = pool.submit(read)
    pool.shutdown(wait=False)  # the thread ends with its one task
    return future


def _judge(plan: Plan, out_root: Path, questions: Future[list[dict[str, object]]]) -> Judged:
    """Each question of the run's quality rows judged, against the plan's baseline."""
    items = questions.result() if (out_root / "quality").is_dir() else []
    return judge_run(out_root, items, plan.baseline)


def _not_measured(results: list[gates_mod.GateResult], why: str
                  ) -> list[gates_mod.GateResult]:
    """On a dataset of one's own (or in the tune profile), a gate whose notebook ran but
    recorded no such metric (no cross-user probes, no injection items, a part tune skips) is
    skipped, not failed: there was nothing for it to measure. A failed notebook still fails
    its gates."""
    return [replace(r, status="skipped", note=why)
            if r.status == "failed" and r.note == "metric not recorded" else r
            for r in results]
