"""The run's report, typed: :class:`RunSummary` is ``summary.json`` (written and read back:
the previous run, the golden baseline, ``evals compare``, an ``--only`` run's merge), and
:class:`RunReport` is everything one report is made of (the summary, the gates with their
status, the notebooks, the previous run and the baseline it is compared with, the judged
questions and their flips, the JUnit file).

JSON lives only at the edge: :meth:`RunSummary.to_json` writes the shape ``summary.json`` has
always had (the same keys, in the same order), and :meth:`RunSummary.from_json` reads it back,
raising :class:`SummaryError` that names a missing or mistyped field rather than reading it as
empty. Fields that older runs did not write yet (the run's dataset, command, overrides, gate
sources and merged rows) read as their defaults, so that old runs still compare.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evals.gates import Gate, GateResult
from evals.report.record import NotebookOutcome

if TYPE_CHECKING:
    from evals.judge.outcome import Judged


class SummaryError(ValueError):
    """A ``summary.json`` that lacks a field, or holds one of the wrong kind."""


_MISSING = object()


def _obj(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise SummaryError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _get(data: Mapping[str, object], key: str, where: str,
         default: object = _MISSING) -> object:
    """``data[key]``; a missing key is a :class:`SummaryError` naming ``where.key`` unless a
    ``default`` is given (a field older runs did not write)."""
    if key in data:
        return data[key]
    if default is _MISSING:
        raise SummaryError(f"{where}: the field {key!r} is missing")
    return default


def _text(value: object, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise SummaryError(f"{where}: expected a text, got {value!r}")
    return value


def _number(value: object, where: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SummaryError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _texts(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SummaryError(f"{where}: expected a list of texts, got {value!r}")
    return list(value)


@dataclass(frozen=True)
class Setting:
    """One Settings field as a notebook ran with it: its value and where it came from."""

    value: object
    source: str

    def to_json(self) -> dict[str, object]:
        return {"value": self.value, "source": self.source}


@dataclass(frozen=True)
class DatasetInfo:
    """The dataset a run ran on (``EvalDataset.describe()``; every key kept as written)."""

    name: str
    root: str
    described: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object, where: str) -> DatasetInfo:
        row = _obj(data, where)
        return cls(str(_text(_get(row, "name", where), f"{where}.name")),
                   str(_text(_get(row, "root", where), f"{where}.root")), dict(row))

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "root": self.root, **self.described}


@dataclass
class RunInfo:
    """``summary.json``'s ``run``: the run's id and folder, what it ran on and with, the run
    it follows and the baseline it is compared with."""

    id: str
    folder: str | None = None
    report: str | None = None  # reports/<report>/
    dataset: DatasetInfo | None = None
    command: str = ""
    overrides: dict[str, object] = field(default_factory=dict)
    previous: str | None = None
    baseline: str | None = None
    gate_sources: dict[str, str] = field(default_factory=dict)  # gate -> the file that set it
    rows_from: list[str] | None = None  # an --only run merged: the runs other rows came from
    generator: str | None = None  # the quality notebook's generator and why (team_settings)
    overridden: list[str] = field(default_factory=list)  # --param over a team's setting
    env_file: str | None = None  # --env-file, as given

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id, "folder": self.folder, "report": self.report,
            "dataset": self.dataset.to_json() if self.dataset else None,
            "command": self.command, "overrides": dict(self.overrides),
            "previous": self.previous, "baseline": self.baseline,
            "gate_sources": dict(self.gate_sources)}
        if self.rows_from is not None:
            out["rows_from"] = list(self.rows_from)
        if self.generator is not None:
            out["generator"] = self.generator
        if self.overridden:
            out["overridden"] = list(self.overridden)
        if self.env_file is not None:
            out["env_file"] = self.env_file
        return out

    @classmethod
    def from_json(cls, data: object, where: str) -> RunInfo:
        row = _obj(data, where)
        dataset = _get(row, "dataset", where, None)
        rows_from = _get(row, "rows_from", where, None)
        return cls(
            id=str(_text(_get(row, "id", where), f"{where}.id")),
            folder=_text(_get(row, "folder", where, None), f"{where}.folder", optional=True),
            report=_text(_get(row, "report", where, None), f"{where}.report", optional=True),
            dataset=None if dataset is None else DatasetInfo.from_json(dataset,
                                                                       f"{where}.dataset"),
            command=str(_text(_get(row, "command", where, ""), f"{where}.command")),
            overrides=dict(_obj(_get(row, "overrides", where, {}), f"{where}.overrides")),
            previous=_text(_get(row, "previous", where, None), f"{where}.previous",
                           optional=True),
            baseline=_text(_get(row, "baseline", where, None), f"{where}.baseline",
                           optional=True),
            gate_sources={k: str(_text(v, f"{where}.gate_sources.{k}")) for k, v in _obj(
                _get(row, "gate_sources", where, {}), f"{where}.gate_sources").items()},
            rows_from=None if rows_from is None else _texts(rows_from, f"{where}.rows_from"),
            generator=_text(_get(row, "generator", where, None), f"{where}.generator",
                            optional=True),
            overridden=_texts(_get(row, "overridden", where, []), f"{where}.overridden"),
            env_file=_text(_get(row, "env_file", where, None), f"{where}.env_file",
                           optional=True))


@dataclass
class Environment:
    """Where the run kept its state, and its loud warnings (an inherited DATABASE_URL)."""

    state_dir: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"state_dir": self.state_dir, "warnings": list(self.warnings)}

    @classmethod
    def from_json(cls, data: object, where: str) -> Environment:
        row = _obj(data, where)
        return cls(_text(_get(row, "state_dir", where, None), f"{where}.state_dir",
                         optional=True),
                   _texts(_get(row, "warnings", where, []), f"{where}.warnings"))


@dataclass(frozen=True)
class GateRow:
    """A gate's row in ``summary.json``: passed is None for a skipped gate."""

    name: str
    value: float | None
    threshold: float
    op: str
    passed: bool | None

    @classmethod
    def of(cls, result: GateResult) -> GateRow:
        return cls(result.name, result.value, result.threshold, result.op, result.passed)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "value": self.value, "threshold": self.threshold,
                "op": self.op, "passed": self.passed}

    @classmethod
    def from_json(cls, data: object, where: str) -> GateRow:
        row = _obj(data, where)
        passed = _get(row, "passed", where)
        if passed is not None and not isinstance(passed, bool):
            raise SummaryError(f"{where}.passed: expected true, false or null, got {passed!r}")
        return cls(str(_text(_get(row, "name", where), f"{where}.name")),
                   _number(_get(row, "value", where), f"{where}.value", optional=True),
                   float(_number(_get(row, "threshold", where), f"{where}.threshold") or 0.0),
                   str(_text(_get(row, "op", where), f"{where}.op")), passed)


SUMMARY_KEYS = ("profile", "started_at", "git_commit", "run", "parameters", "settings",
                "environment", "gates", "metrics")


@dataclass
class RunSummary:
    """``summary.json``: the machine view of a run."""

    profile: str
    started_at: str
    git_commit: str | None
    run: RunInfo
    parameters: dict[str, dict[str, object]] = field(default_factory=dict)  # per notebook
    settings: dict[str, dict[str, Setting]] = field(default_factory=dict)  # per notebook
    environment: Environment = field(default_factory=Environment)
    gates: list[GateRow] = field(default_factory=list)
    metrics: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "profile": self.profile, "started_at": self.started_at,
            "git_commit": self.git_commit, "run": self.run.to_json(),
            "parameters": {k: dict(v) for k, v in self.parameters.items()},
            "settings": self.settings_json(),
            "environment": self.environment.to_json(),
            "gates": [g.to_json() for g in self.gates],
            "metrics": dict(self.metrics)}

    def settings_json(self) -> dict[str, object]:
        return {nb: {k: s.to_json() for k, s in fields.items()}
                for nb, fields in self.settings.items()}

    @classmethod
    def from_json(cls, data: object, where: str = "summary.json") -> RunSummary:
        """A summary as written by :meth:`to_json`; a :class:`SummaryError` names the first
        field that is missing or of the wrong kind."""
        top = _obj(data, where)
        for key in SUMMARY_KEYS:  # every top-level field, before any is read
            _get(top, key, where)

        def at(key: str) -> object:
            return _get(top, key, where)

        return cls(
            profile=str(_text(at("profile"), f"{where}.profile")),
            started_at=str(_text(at("started_at"), f"{where}.started_at")),
            git_commit=_text(at("git_commit"), f"{where}.git_commit", optional=True),
            run=RunInfo.from_json(at("run"), f"{where}.run"),
            parameters={nb: dict(_obj(v, f"{where}.parameters.{nb}"))
                        for nb, v in _obj(at("parameters"), f"{where}.parameters").items()},
            settings=settings_from_json(at("settings"), f"{where}.settings"),
            environment=Environment.from_json(at("environment"), f"{where}.environment"),
            gates=[GateRow.from_json(g, f"{where}.gates[{i}]")
                   for i, g in enumerate(_list(at("gates"), f"{where}.gates"))],
            metrics=dict(_obj(at("metrics"), f"{where}.metrics")))

    @classmethod
    def read(cls, path: str | Path) -> RunSummary:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SummaryError(f"{path} cannot be read: {exc}") from None
        return cls.from_json(data, str(path))

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    @property
    def dataset_name(self) -> str | None:
        return self.run.dataset.name if self.run.dataset else None


def settings_from_json(data: object, where: str) -> dict[str, dict[str, Setting]]:
    """Per notebook, field -> :class:`Setting` (``summary.json``'s ``settings``)."""
    return {nb: {k: _setting(v, f"{where}.{nb}.{k}")
                 for k, v in _obj(fields, f"{where}.{nb}").items()}
            for nb, fields in _obj(data, where).items()}


def _setting(value: object, where: str) -> Setting:
    row = _obj(value, where)
    return Setting(_get(row, "value", where), str(_text(_get(row, "source", where),
                                                        f"{where}.source")))


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise SummaryError(f"{where}: expected a list, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Compared:
    """The metrics a report compares a run with: the golden baseline's ``summary.json`` or a
    dataset's ``baseline.json`` (``path`` as the report shows it)."""

    path: str | None
    metrics: dict[str, object]


@dataclass
class RunReport:
    """Everything one report shows: ``summary.json``, ``summary.md``, ``details.json``."""

    summary: RunSummary
    results: list[GateResult]  # every gate with its status and note
    notebooks: list[NotebookOutcome]
    baseline: Compared | None = None
    previous: RunSummary | None = None
    gates: Sequence[Gate] = ()  # the gate definitions (their targets)
    judged: Judged | None = None  # each question, and its flip against the baseline
    junit: Path | None = None  # the JUnit file written for the run, if asked for
    counts: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # rate -> (k, n)

    @property
    def failed(self) -> bool:
        return (any(r.status == "failed" for r in self.results)
                or not all(n.ok for n in self.notebooks))

    @property
    def sections(self) -> list[str]:
        """The questions' section of ``summary.md`` (after the gates)."""
        return self.judged.markdown_lines() if self.judged is not None else []


def count_text(counts: Mapping[str, tuple[int, int]], name: str, *,
               short: bool = False) -> str:
    """``5 of 6 (83 %, 95 % interval 44-97 %)`` for a rate over questions (``short``:
    ``5 of 6, 95 % 44-97 %``, beside a value already shown), else ``-``."""
    from evals.judge.questions import rate_text, wilson

    if name not in counts:
        return "-"
    k, n = counts[name]
    if not short:
        return rate_text(k, n)
    low, high = wilson(k, n)
    return f"{k} of {n}, 95 % {100 * low:.0f}-{100 * high:.0f} %"
