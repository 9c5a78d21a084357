"""A dataset's own baseline: ``<reports-dir>/<name>/baseline.json``, written by the dataset's
first run (a file a team commits), and a later run judged against it.

The file holds the run it came from, its metrics (``summary.json``'s) and every judged
question (``evals.judge.questions``). A later run fails when a question that passed there now
fails (exact: no noise model for a question's own checks), and when a per-question metric
drops beyond the noise of the paired questions (``evals.judge.paired``). A metric over fewer
than ``MIN_PAIRED`` paired questions is reported, not gated: its interval says too little.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evals.gates import GateResult, Status
from evals.judge import paired
from evals.judge.questions import Comparison, Flip, Question, compare

FILE = "baseline.json"
MIN_PAIRED = 10  # fewer paired questions: a metric's change is reported, not gated
FLIP_GATE = "baseline.newly_failing_questions"
NEW_GATE = "baseline.new_questions_failing"  # new or changed questions that fail, not expected


def default_path(reports_dir: Path, name: str) -> Path:
    return reports_dir / name / FILE


@dataclass(frozen=True)
class Origin:
    """The run a baseline came from (``baseline.json``'s ``run``)."""

    id: str = "-"
    git_commit: str | None = None
    started_at: str = ""
    profile: str = ""

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "git_commit": self.git_commit, "started_at": self.started_at,
                "profile": self.profile}

    @classmethod
    def from_json(cls, data: object, where: str) -> Origin:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        missing = [k for k in ("id", "git_commit", "started_at", "profile") if k not in data]
        if missing:
            raise ValueError(f"{where}: the field {missing[0]!r} is missing")
        commit = data["git_commit"]
        return cls(str(data["id"]), None if commit is None else str(commit),
                   str(data["started_at"]), str(data["profile"]))


@dataclass
class Baseline:
    path: Path
    questions: list[Question]
    metrics: dict[str, object] = field(default_factory=dict)
    origin: Origin = field(default_factory=Origin)
    parameters: dict[str, dict[str, object]] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)  # as summary.json holds them


def portable(value: object) -> object:
    """``value`` (a JSON tree) with every absolute path of this machine made portable: inside
    the checkout repository-relative, under the home folder ``~/...``, elsewhere its last
    part after ``(outside the checkout)/``. A committed baseline holds no machine's paths."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v) for v in value]
    if not isinstance(value, str) or not value.startswith("/") or "\n" in value:
        return value
    from evals.paths import REPO_ROOT

    path = Path(value)
    for root, shown in ((REPO_ROOT, ""), (Path.home(), "~/")):
        try:
            inner = path.relative_to(root)
        except ValueError:
            continue
        return f"{shown}{inner}" if str(inner) != "." else (shown.rstrip("/") or ".")
    if path.exists() or value.startswith(("/tmp/", "/var/", "/home/", "/Users/", "/work/")):
        return f"(outside the checkout)/{path.name}"
    return value


def write(path: Path, questions: Sequence[Question], origin: Origin, *,
          metrics: Mapping[str, object], parameters: Mapping[str, object] | None = None,
          settings: Mapping[str, object] | None = None) -> Path:
    """``baseline.json``: the run it came from, its parameters, Settings and metrics, and every
    judged question."""
    data = portable({"run": origin.to_json(), "parameters": dict(parameters or {}),
                     "settings": dict(settings or {}), "metrics": dict(metrics),
                     "questions": [q.to_json() for q in questions]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return path


def load(path: Path) -> Baseline:
    """A baseline file; a ``ValueError`` when it is not one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"baseline {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise ValueError(f"{path} is not a dataset baseline (no 'questions' list; a "
                         "baseline.json is written by a dataset's first run)")
    missing = [k for k in ("run", "parameters", "settings", "metrics") if k not in data]
    if missing:
        raise ValueError(f"{path}: the field {missing[0]!r} is missing")
    params, settings, metrics = data["parameters"], data["settings"], data["metrics"]
    if not (isinstance(params, dict) and isinstance(settings, dict)
            and isinstance(metrics, dict)):
        raise ValueError(f"{path}: parameters, settings and metrics must be objects")
    return Baseline(path, [Question.from_json(q) for q in data["questions"]], dict(metrics),
                    Origin.from_json(data["run"], f"{path}.run"),
                    {str(k): dict(v) for k, v in params.items() if isinstance(v, dict)},
                    dict(settings))


@dataclass
class Verdict:
    """A run's questions against a baseline."""

    baseline: Baseline
    newly_failing: list[Flip]
    newly_passing: list[Flip]
    metrics: list[paired.MetricChange]
    compared: Comparison = field(default_factory=Comparison)

    def gates(self) -> list[GateResult]:
        """Gate rows: the flipped questions (0 allowed), and per metric the end of its
        interval nearest to better (a drop fails when even that end is a drop)."""
        ids = ", ".join(f.id for f in self.newly_failing)
        out = [GateResult(FLIP_GATE, float(len(self.newly_failing)), 0.0, "le",
                          "failed" if self.newly_failing else "passed",
                          f"newly failing: {ids}" if ids else "")]
        fresh = self.compared.new_failing
        out.append(GateResult(NEW_GATE, float(len(fresh)), 0.0, "le",
                              "failed" if fresh else "passed",
                              "new or changed since the baseline and failing (mark a known "
                              "failure expect: fail with a reason): "
                              + ", ".join(q.id for q in fresh) if fresh else ""))
        for change in self.metrics:
            bound = "high" if change.higher_is_better else "low"
            value = change.high if change.higher_is_better else change.low
            op = "ge" if change.higher_is_better else "le"
            status: Status
            if change.n < MIN_PAIRED:
                status, note = "skipped", (f"{change.n} paired questions, fewer than "
                                           f"{MIN_PAIRED}: reported, not gated; "
                                           f"{change.text()}")
            else:
                status = "failed" if change.worse else "passed"
                note = change.text()
            out.append(GateResult(f"baseline.{change.name}.change_{bound}95", value, 0.0, op,
                                  status, note))
        return out


def judge(questions: Sequence[Question], baseline: Baseline) -> Verdict:
    """``questions`` against ``baseline``. A baseline written before turns were judged (it
    holds no turn of a conversation) is compared on the questions alone: its run's turns
    were never judged, so they are neither new nor gone."""
    if not any(q.conversation for q in baseline.questions):
        questions = [q for q in questions if not q.conversation]
    found = compare(baseline.questions, questions)
    return Verdict(baseline, found.newly_failing, found.newly_passing,
                   paired.changes(baseline.questions, questions), found)


def known_passing(questions: Sequence[Question]) -> list[Question]:
    """Questions marked ``expect: fail`` that pass: their mark can go."""
    return [q for q in questions if q.known_failure and q.passed]


def change_lines(found: Comparison, questions: Sequence[Question]) -> list[str]:
    """Console lines for what is not a flip: new, changed and gone questions, known failures
    that now pass."""
    lines: list[str] = []
    fresh = {q.id for q in found.new_failing}
    for title, group in (("new since the baseline", found.new),
                         ("text changed since the baseline", [f.after for f in found.changed])):
        if group:
            lines.append(f"{title}: " + " ".join(
                f"{q.id}{' (FAILS)' if q.id in fresh else ''}" for q in group))
            lines += [f"  {q.id}: {_short(q.question, 100)}" for q in group if q.id in fresh]
    if found.gone:
        lines.append("gone since the baseline: " + " ".join(q.id for q in found.gone))
    now = known_passing(questions)
    if now:
        lines.append("known failures that now pass (remove expect: fail): "
                     + " ".join(q.id for q in now))
    return lines


def _short(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def _apart(before: str, after: str, width: int = 160) -> tuple[str, str]:
    """Two answers shortened from the word where they start to differ (a shared opening,
    such as the generator's preamble, is left out as ``…``)."""
    a, b = " ".join(before.split()), " ".join(after.split())
    if a == b:  # the answer held; another check (retrieval, say) failed
        return _short(a, width), "(the same answer)"
    same = 0
    while same < min(len(a), len(b)) and a[same] == b[same]:
        same += 1
    start = a.rfind(" ", 0, same) + 1 if same > width // 2 else 0
    lead = "…" if start else ""
    return _short(lead + a[start:], width), _short(lead + b[start:], width)


def flip_lines(newly_failing: Sequence[Flip], newly_passing: Sequence[Flip]) -> list[str]:
    """Console lines: ``newly failing:`` with each question's answer before and after, then
    the questions that now pass."""
    lines: list[str] = []
    if newly_failing:
        lines.append(f"newly failing: {' '.join(f.id for f in newly_failing)}")
        for flip in newly_failing:
            before, after = _apart(flip.before.answer, flip.after.answer)
            lines += [f"  {flip.id}: {flip.after.question}",
                      f"    checks failed: {', '.join(flip.after.failed_checks)}",
                      f"    before: {before}", f"    after:  {after}"]
    if newly_passing:
        lines.append(f"newly passing: {' '.join(f.id for f in newly_passing)}")
    return lines


def flip_markdown(newly_failing: Sequence[Flip], newly_passing: Sequence[Flip],
                  against: str) -> list[str]:
    """The questions that flipped (newly failing first), as a Markdown section."""
    lines = [f"## Questions that flipped against {against}", ""]
    if not newly_failing and not newly_passing:
        return lines + ["- none: every question asked in both runs passes or fails as it "
                        "did (new, changed and gone questions: below)", ""]
    for title, group in (("Newly failing", newly_failing), ("Newly passing", newly_passing)):
        if not group:
            continue
        lines += [f"{title} ({len(group)}):", ""]
        for flip in group:
            shown = flip.after if title == "Newly failing" else flip.before
            lines += [f"- `{flip.id}` ({flip.after.user_id}): {flip.after.question}",
                      f"  - checks failed: {', '.join(shown.failed_checks) or '-'}",
                      f"  - expected: {_short(flip.after.expected, 400)}",
                      f"  - before: {_short(flip.before.answer, 400)}",
                      f"  - after: {_short(flip.after.answer, 400)}"]
        lines.append("")
    return lines


def change_markdown(found: Comparison, questions: Sequence[Question]) -> list[str]:
    """``summary.md``'s section on questions new, changed or gone since the baseline and the
    known failures (``expect: fail``)."""
    lines = ["## Questions new, changed or gone since the baseline", ""]
    fresh = {q.id for q in found.new_failing}
    for title, group in (("New", found.new), ("Text changed (same id)",
                                              [f.after for f in found.changed])):
        lines.append(f"- {title}: {len(group)}")
        lines += [f"  - `{q.id}`{' **FAILS**' if q.id in fresh else ''}"
                  f"{' (expected failure: ' + q.reason + ')' if q.known_failure else ''}: "
                  f"{_short(q.question, 200)}" for q in group]
    lines.append(f"- Gone: {len(found.gone)}")
    lines += [f"  - `{q.id}`: {_short(q.question, 200)}" for q in found.gone]
    known = [q for q in questions if q.known_failure]
    now = known_passing(questions)
    lines.append(f"- Known failures (`expect: fail`): {len(known)}, of which now pass: "
                 f"{', '.join(f'`{q.id}`' for q in now) or 'none'}")
    return lines + [""]
