"""Plan a harness run before anything executes: the options, the notebooks and their
parameters, the report folder, the baseline and the gates (a usage error says what is wrong
with the command line before a notebook starts)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from evals import profiles
from evals.paths import GATES_FILE, REPORTS_DIR

if TYPE_CHECKING:
    from evals.datasets import EvalDataset
    from evals.gates import Gate
    from evals.judge.baseline import Baseline
    from evals.team_settings import GeneratorChoice, TeamSettings


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
    junit_xml: Path | None = None  # also write the gates and failing questions as JUnit XML
    env_file: Path | None = None  # the team's settings file (NAME=VALUE, as calibrate writes)


def notebook_parameters(path: Path) -> dict[str, object]:
    """The parameters cell of a notebook: name -> {inferred_type_name, default, help}."""
    from evals.runs.papermill_import import papermill

    return dict(papermill().inspect_notebook(str(path)))


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




# profiles whose run on a dataset is an experiment: it writes its own runs/<id>/ only, never
# the dataset's report or baseline
EXPERIMENTS = ("dev", "tune", "smoke")


@dataclass
class Plan:
    """What a run will do, decided before any notebook starts."""

    specs: list[profiles.NotebookSpec]
    folder: str  # reports/<folder>/
    per_overrides: dict[str, dict[str, object]]
    gates: list[Gate]
    gate_sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    dataset: EvalDataset | None = None
    summary_baseline: Path | None = None  # a summary.json whose metrics the report shows
    baseline: Baseline | None = None  # the dataset's judged questions to compare with
    write_baseline: Path | None = None  # the dataset's first run: its baseline goes here
    writes_report: bool = True  # False: only runs/<id>/ (an experiment on a dataset)
    left_out: list[str] = field(default_factory=list)  # notebooks an own-data run leaves out
    team: TeamSettings | None = None  # the team's settings: environment, --env-file, dataset
    generator: GeneratorChoice | None = None  # the quality notebook's generator, and why
    overridden: list[str] = field(default_factory=list)  # --param over a team's setting

    @property
    def own_data(self) -> bool:
        return self.dataset is not None and not self.dataset.is_golden


def _summary_baseline(option: str | Path | None, profile: str) -> Path | None:
    """The golden set's committed baseline (whatever ``--reports-dir`` says), or a file."""
    if option is None:
        return None
    if option == "default":
        path = REPORTS_DIR / "baseline" / profile / "summary.json"
        return path if path.is_file() else None
    path = Path(option)
    if not path.is_file():
        raise UsageError(f"baseline {path} does not exist")
    return path


def _choose_baseline(plan: Plan, option: str | Path | None, reports_dir: Path) -> None:
    """``--baseline PATH`` (a dataset's baseline.json or a summary.json), ``--no-baseline``,
    or the default: the dataset's ``<reports-dir>/<name>/baseline.json`` (written by its first
    run when missing), the golden set's ``reports/baseline/<profile>/summary.json``."""
    from evals.judge import baseline as own

    if plan.own_data and option == "default":
        path = own.default_path(reports_dir, plan.folder)
        if path.is_file():
            plan.baseline = own.load(path)
        elif plan.writes_report:
            plan.write_baseline = path
        return
    found = _summary_baseline(option, plan.folder)
    if found is None:
        return
    try:
        plan.baseline = own.load(found)
    except ValueError:
        from evals.report.run_report import RunSummary

        RunSummary.read(found)  # a summary.json (its metrics, no questions), or an error
        plan.summary_baseline = found


def _on_request(spec: profiles.NotebookSpec, dataset: EvalDataset | None,
                only: Sequence[str]) -> bool:
    """A notebook that a run on one's own data runs only when ``--only`` names it: it measures
    a synthetic corpus and public collections, not the dataset's notes (the golden set and the
    ci profile run it as before)."""
    return (dataset is not None and not dataset.is_golden and not only
            and spec.name in profiles.OWN_DATA_ON_REQUEST)


def _team(plan: Plan, options: RunOptions) -> None:
    """The team's settings (``evals/team_settings.py``), the generator they choose and the
    ``--param`` values that replace one of them."""
    from evals import team_settings
    from evals.knobs import check_overrides

    root = plan.dataset.root if plan.dataset is not None and not plan.dataset.is_golden \
        else None
    if options.env_file is not None and not Path(options.env_file).is_file():
        raise UsageError(f"SETTINGS_BAD_ENV_FILE: --env-file {options.env_file}: no such file")
    plan.team = team = team_settings.gather(os.environ, options.env_file, root)
    for spec in plan.specs:
        given = plan.per_overrides[spec.name]
        asked = {name: given[param] for param, name in spec.settings_params.items()
                 if param in given}
        asked.update(check_overrides(given.get("settings")))
        plan.overridden += [t for t in team_settings.overridden(team, asked)
                            if t not in plan.overridden]
        if spec.name == "quality":
            plan.generator = team_settings.choose_generator(team, given.get("generator"))
            if plan.generator.name == "hf" and "generator" not in given:
                given["generator"] = "hf"


def team_for(plan: Plan, spec: profiles.NotebookSpec, profile: str) -> TeamSettings:
    """What the runner hands notebook ``spec``: the team's settings and how each of its
    parameters that stands for a setting was set (``param``, ``profile`` or ``default``)."""
    from evals.team_settings import TeamSettings

    given, own = plan.per_overrides[spec.name], spec.profile_params(profile)
    how = {p: "param" if p in given else "profile" if p in own else "default"
           for p in spec.settings_params}
    team = plan.team or TeamSettings()
    return TeamSettings(dict(team.settings), how, team.env_file, team.dataset_root)


def _from_checkout(path: Path) -> str:
    """A dataset's folder as the notebooks get it (they run in the checkout): relative when
    inside it, so that reports and baselines do not hold this machine's paths."""
    from evals.paths import REPO_ROOT

    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def make_plan(options: RunOptions) -> Plan:
    """The plan of ``options``; every mistake is a :class:`UsageError`."""
    from evals.datasets import load_dataset
    from evals.datasets.checks import check_dataset
    from evals.datasets.gating import dataset_gates
    from evals.gates import load_gates

    try:
        if options.dataset:
            check_dataset(options.dataset)  # every file, before anything reads one
        dataset = load_dataset(options.dataset) if options.dataset else None
        folder = report_folder(options, dataset.name if dataset else None)
        specs = profiles.notebooks_for(options.profile, options.only, options.notebooks)
        left_out = [s.name for s in specs if _on_request(s, dataset, options.only)]
        specs = [s for s in specs if s.name not in left_out]
        warnings = check_environment(options.external_services)
        overrides = dict(options.overrides)
        if dataset is not None:
            overrides.setdefault("dataset", _from_checkout(dataset.root))
        per_overrides = split_overrides(specs, overrides)
        gate_profile = profiles.BASE_PROFILE.get(options.profile, options.profile)
        gate_list = load_gates(options.gates_file, gate_profile)
        sources: dict[str, str] = {}
        if dataset is not None and not dataset.is_golden:
            gate_list, sources = dataset_gates(gate_list, dataset.name, dataset.gates_file)
        plan = Plan(list(specs), folder, per_overrides, gate_list, sources, warnings, dataset)
        _team(plan, options)
        plan.left_out = left_out
        plan.writes_report = not (plan.own_data and options.profile in EXPERIMENTS)
        _choose_baseline(plan, options.baseline, options.reports_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return plan
