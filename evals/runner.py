"""Run the notebooks of a profile with papermill, collect their results, apply the gates and
write ``reports/<profile>/``.

A run is kept in ``reports/<profile>/runs/<id>/`` (the id is its start time): each notebook
gets its own folder ``<name>/`` there as ``output_dir`` (plots, ``<name>.results.json`` and
``<name>.settings.json``); the executed notebook lands beside it, and the report
(``summary.json``, ``summary.md``, compared with the previous run and the baseline) is written
there and copied to ``reports/<profile>/``. The notebooks' stderr
(progress bars) is streamed to the terminal while they run.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO, TypedDict

from evals import gates as gates_mod
from evals import knobs, profiles, servers
from evals.paths import GATES_FILE, REPO_ROOT, REPORTS_DIR
from evals.report import figures as report_plots
from evals.report import merge, record, run_compare
from evals.report import summary as report

KERNEL = "python3"


class UsageError(ValueError):
    """A mistake in the command line (exit code 2)."""


@dataclass
class RunOptions:
    profile: str
    only: Sequence[str] = ()
    overrides: Mapping[str, object] = field(default_factory=dict)
    baseline: str | Path | None = "default"  # reports/baseline/<profile>/summary.json if present
    reports_dir: Path = REPORTS_DIR
    gates_file: Path = GATES_FILE
    notebooks: Sequence[profiles.NotebookSpec] = profiles.NOTEBOOKS
    stream: TextIO | None = None  # where notebooks' stderr goes (None: sys.stderr)
    external_services: bool = False  # allow (and record) an inherited DATABASE_URL / REDIS_URL
    keep_services: bool = False  # leave the embedded servers this run started running
    command: str = ""  # the command line, shown in the report (reproduce a gate alone)
    run_id: str | None = None  # default: the start time, reports/<profile>/runs/<id>/
    dataset: str | None = None  # a dataset folder or hub id: notebooks run on it (reports/<name>/)
    name: str | None = None  # the report folder (default: the dataset's name, else the profile)


@dataclass
class RunResult:
    exit_code: int
    summary: dict[str, object]
    gates: list[gates_mod.GateResult]
    notebooks: list[report.NotebookOutcome]
    paths: dict[str, Path]


def ensure_kernel(name: str = KERNEL) -> str:
    """Make sure a Jupyter kernel ``name`` exists that runs this interpreter; return its argv0.

    ipykernel's own ``python3`` spec (``argv[0] == "python"``) is started by jupyter_client with
    ``sys.executable``; if no such kernel is found it is installed into ``sys.prefix``.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(name)
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(prefix=sys.prefix, kernel_name=name)
        spec = KernelSpecManager().get_kernel_spec(name)
    argv0 = spec.argv[0]
    generic = {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}
    if argv0 not in generic and Path(argv0).resolve() != Path(sys.executable).resolve():
        print(f"evals: warning: kernel {name!r} runs {argv0}, not {sys.executable}; "
              f"run `{sys.executable} -m ipykernel install --sys-prefix --name {name}`",
              file=sys.stderr)
    return argv0


def notebook_parameters(path: Path) -> dict[str, object]:
    """The parameters cell of a notebook: name -> {inferred_type_name, default, help}."""
    import papermill

    return dict(papermill.inspect_notebook(str(path)))


def check_settings_override(specs: Sequence[profiles.NotebookSpec],
                            overrides: Mapping[str, object]) -> None:
    """``--param settings=...``: known fields, valid values, no field also set by a
    notebook parameter given on the command line."""
    from evals.knobs import KnobError, check_overrides

    try:
        chosen = check_overrides(overrides.get("settings"))
    except KnobError as exc:
        raise UsageError(str(exc)) from None
    for spec in specs:
        for param, name in spec.settings_params.items():
            if name in chosen and param in overrides:
                raise UsageError(f"{name} is set twice: --param {param}={overrides[param]!r} "
                                 f"and settings.{name}={chosen[name]!r} ({spec.name}); "
                                 "give one of them")


SERVICE_VARS = ("DATABASE_URL", "RAG_DATABASE_URL", "REDIS_URL", "RAG_REDIS_URL")


def check_environment(external: bool) -> list[str]:
    """Refuse an inherited service URL (the golden ingestion prunes the golden users' notes
    wherever it points), or with ``external`` return loud warnings for the report."""
    found = {name: os.environ[name] for name in SERVICE_VARS if os.environ.get(name)}
    if found and not external:
        names = ", ".join(found)
        raise UsageError(
            f"{names} set in the environment: the harness would ingest the golden notes there "
            "and prune the golden users' other notes. Unset it (the harness starts its own "
            "embedded servers), or pass --external-services to use it (recorded in the report)")
    return [f"{name} inherited from the environment and used: {_redact(url)}"
            for name, url in found.items()]


def _redact(url: str) -> str:
    head, at, tail = url.rpartition("@")
    return f"{head.split('//')[0]}//***@{tail}" if at else url


def split_overrides(specs: Sequence[profiles.NotebookSpec], overrides: Mapping[str, object]
                    ) -> dict[str, dict[str, object]]:
    """Per notebook, the overrides its parameters cell declares; unknown names are an error."""
    check_settings_override(specs, overrides)
    per: dict[str, dict[str, object]] = {s.name: {} for s in specs}
    used: set[str] = set()
    for spec in specs:
        declared = notebook_parameters(spec.file)
        for key, value in overrides.items():
            if key in declared:
                per[spec.name][key] = value
                used.add(key)
    unknown = sorted(set(overrides) - used)
    if unknown:
        names = ", ".join(s.name for s in specs)
        raise UsageError(f"no selected notebook ({names}) has the parameter(s) {unknown}")
    if "output_dir" in overrides:
        raise UsageError("output_dir is set by the runner")
    return per


def _execute(spec: profiles.NotebookSpec, params: dict[str, object], executed: Path,
             out_dir: Path, stream: TextIO) -> report.NotebookOutcome:
    import papermill

    start = time.perf_counter()
    ok, error = True, ""
    try:
        papermill.execute_notebook(
            str(spec.file), str(executed), parameters=params, kernel_name=KERNEL,
            cwd=str(REPO_ROOT), progress_bar=False, stderr_file=stream, log_output=False,
        )
    except papermill.PapermillExecutionError as exc:
        ok, error = False, f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
    except Exception as exc:  # kernel died, timeout, bad notebook: all mean "notebook failed"
        ok, error = False, "".join(traceback.format_exception_only(exc)).strip()
    seconds = time.perf_counter() - start
    outcome = report.NotebookOutcome(name=spec.name, path=spec.path, executed=str(executed),
                                     seconds=round(seconds, 1), ok=ok, error=error)
    for result in record.load_results(out_dir):
        outcome.artifacts += [str(out_dir / a) for a in result.get("artifacts", [])]
        outcome.notes.update(result.get("notes", {}))
        outcome.tables.update(result.get("tables", {}))
    return outcome


def _baseline_path(option: str | Path | None, profile: str) -> Path | None:
    """The committed baseline of the repository (whatever ``--reports-dir`` says)."""
    if option is None:
        return None
    if option == "default":
        path = REPORTS_DIR / "baseline" / profile / "summary.json"
        return path if path.is_file() else None
    path = Path(option)
    if not path.is_file():
        raise UsageError(f"baseline {path} does not exist")
    return path


class RecordedSettings(TypedDict):
    fields: dict[str, dict[str, object]]  # field -> {value, source}
    warnings: list[str]


_PATH_FIELDS = ("state_dir", "model_cache_dir")  # folders: shown repo-relative


def _settings_of(out_dir: Path) -> RecordedSettings:
    """field -> {value, source} recorded by the notebook (evals/knobs.py), and its warnings."""
    fields: dict[str, dict[str, object]] = {}
    warnings: list[str] = []
    for rec in knobs.load_recorded(out_dir):
        fields.update({k: {"value": _rel(Path(v)) if k in _PATH_FIELDS and isinstance(v, str)
                           else v,
                           "source": rec["sources"].get(k, "default")}
                       for k, v in rec["settings"].items()})
        warnings += rec.get("warnings", [])
    return {"fields": fields, "warnings": warnings}


def new_run_id(root: Path) -> str:
    base = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id, n = base, 1
    while (root / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


RESERVED = ("baseline", "spread")


def report_folder(options: RunOptions, dataset_name: str | None) -> str:
    """``reports/<this>/``: ``--name``, else the dataset's name, else the profile. Only the ci
    profile writes ``ci`` (and only full writes ``full``): an experiment never replaces CI's
    report."""
    name = options.name or dataset_name or options.profile
    if not name or "/" in name or name.startswith(".") or name in RESERVED:
        raise UsageError(f"{name!r} cannot name a report folder")
    if name in profiles.PROFILES and name != options.profile:
        if options.name:
            raise UsageError(f"reports/{name}/ is written only by the {name} profile; "
                             "choose another --name")
        name = f"dataset-{name}"
    return name


def run(options: RunOptions) -> RunResult:
    """The whole run; returns the exit code (0 ok, 1 a gate or a notebook failed)."""
    stream = options.stream or sys.stderr
    gate_sources: dict[str, str] = {}
    try:
        dataset = None
        if options.dataset:
            from evals.datasets import load_dataset
            from evals.datasets.checks import check_dataset

            check_dataset(options.dataset)  # every file, before anything reads one
            dataset = load_dataset(options.dataset)
        folder_name = report_folder(options, dataset.name if dataset else None)
        specs = profiles.notebooks_for(options.profile, options.only, options.notebooks)
        warnings = check_environment(options.external_services)
        overrides = dict(options.overrides)
        if dataset is not None:
            overrides.setdefault("dataset", str(dataset.root))
        per_overrides = split_overrides(specs, overrides)
        baseline_path = _baseline_path(options.baseline, folder_name)
        baseline = report.load_baseline(baseline_path)
        gate_profile = profiles.BASE_PROFILE.get(options.profile, options.profile)
        gate_list = gates_mod.load_gates(options.gates_file, gate_profile)
        if dataset is not None and dataset.gates_file is not None:
            from evals.datasets.gating import overlay

            gate_list, gate_sources = overlay(gate_list, dataset.gates_file)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ensure_kernel()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    profile_root = options.reports_dir / folder_name
    runs = run_compare.runs_dir(folder_name, options.reports_dir)
    run_id = options.run_id or new_run_id(runs)
    out_root = runs / run_id
    out_root.mkdir(parents=True, exist_ok=True)
    prev = run_compare.previous_run(folder_name, run_id, options.reports_dir)
    for text in warnings:
        print(f"evals: WARNING: {text}", file=stream)
    on = f" on dataset {dataset.name} ({dataset.root})" if dataset else ""
    print(f"evals: profile {options.profile}{on}: {len(specs)} notebook(s) -> {out_root}",
          file=stream)

    dirs = servers.state_dirs(knobs.harness_state_dir(),
                              [v for v in [options.overrides.get("state_dir")]
                               if isinstance(v, str)])
    before = servers.running(dirs)
    outcomes: list[report.NotebookOutcome] = []
    metrics: dict[str, object] = {}
    parameters: dict[str, object] = {}
    settings: dict[str, object] = {}
    for i, spec in enumerate(specs, start=1):
        out_dir = out_root / spec.name
        out_dir.mkdir(parents=True, exist_ok=True)
        record.clear_results(out_dir)
        knobs.clear_recorded(out_dir)
        params = profiles.parameters(spec, options.profile, out_dir, per_overrides[spec.name])
        parameters[spec.name] = {k: v for k, v in params.items() if k != "output_dir"}
        shown = ", ".join(f"{k}={v}" for k, v in params.items() if k != "output_dir")
        print(f"[{i}/{len(specs)}] {spec.name} ({spec.path}) {shown}", file=stream, flush=True)
        outcome = _execute(spec, params, out_root / f"{spec.stem}.ipynb", out_dir, stream)
        outcomes.append(outcome)
        for result in record.load_results(out_dir):
            metrics.update(result.get("metrics", {}))
        recorded = _settings_of(out_dir)
        if recorded["fields"]:
            settings[spec.name] = recorded["fields"]
        warnings += [w for w in recorded["warnings"] if w not in warnings]
        state = "ok" if outcome.ok else f"FAILED: {outcome.error}"
        print(f"[{i}/{len(specs)}] {spec.name}: {state} in {outcome.seconds:.1f} s",
              file=stream, flush=True)

    if not options.keep_services:  # a run stops every embedded server it started
        for name in servers.stop_started(before, dirs):
            print(f"evals: stopped {_rel(Path(name.split(' of ', 1)[1]))}: "
                  f"{name.split(' ', 1)[0]} (started by this run)", file=stream)
    results = gates_mod.evaluate(gate_list, metrics, ran=[o.name for o in outcomes],
                                 failed=[o.name for o in outcomes if not o.ok])
    if dataset is not None and not dataset.is_golden:
        results = _not_measured(results, f"nothing to measure on dataset {dataset.name}")
    elif options.profile in ("tune", "smoke"):
        results = _not_measured(results, f"not measured: the {options.profile} profile skips "
                                         "this part")
    run_info = {"id": run_id, "folder": _rel(out_root), "report": folder_name,
                "dataset": dataset.describe() if dataset else None,
                "command": options.command,
                "overrides": {k: v for k, v in options.overrides.items() if k != "dataset"},
                "previous": prev[0] if prev else None,
                "baseline": _rel(baseline_path) if baseline_path else None,
                "gate_sources": {k: _rel(Path(v)) for k, v in gate_sources.items()}}
    environment = {"state_dir": _rel(knobs.harness_state_dir()), "warnings": warnings}
    summary = report.build_summary(options.profile, started_at, report.git_commit(), results,
                                   metrics, run=run_info, parameters=parameters,
                                   settings=settings, environment=environment)
    previous = prev[1] if prev else None
    base_text = _rel(baseline_path) if baseline_path else None
    report_plots.copy_beside(outcomes, out_root)
    report.write_report(out_root, summary, results, outcomes, baseline, base_text,
                        previous=previous, gates=gate_list)
    latest = merge.load_latest(profile_root) if options.only else None
    if latest is not None:  # --only: the folder's picture keeps the other notebooks' rows
        summary, results, outcomes = merge.merge(latest[0], latest[1], summary, results,
                                                 outcomes)
    report_plots.copy_beside(outcomes, profile_root)
    paths = report.write_report(profile_root, summary, results, outcomes, baseline, base_text,
                                previous=previous, gates=gate_list)
    failed = gates_mod.any_failed(results) or not all(o.ok for o in outcomes)
    return RunResult(1 if failed else 0, summary, results, outcomes, paths)


def _not_measured(results: list[gates_mod.GateResult], why: str
                  ) -> list[gates_mod.GateResult]:
    """On a dataset of one's own (or in the tune profile), a gate whose notebook ran but
    recorded no such metric (no cross-user probes, no injection items, a part tune skips) is
    skipped, not failed: there was nothing for it to measure. A failed notebook still fails
    its gates."""
    from dataclasses import replace

    return [replace(r, status="skipped", note=why)
            if r.status == "failed" and r.note == "metric not recorded" else r
            for r in results]


def _rel(path: Path) -> str:
    """Repository-relative when inside the checkout (reports never show a machine's paths)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
