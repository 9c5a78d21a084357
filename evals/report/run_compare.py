"""Two harness runs side by side: what changed in their parameters and Settings, and every
metric and gate of both with the difference (``python -m evals compare RUN_A RUN_B``).

A run is named by its id (``reports/<profile>/runs/<id>/``), its folder, or a ``summary.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from evals import units
from evals.paths import REPORTS_DIR
from evals.report.run_report import RunInfo, RunSummary, count_text, settings_from_json

if TYPE_CHECKING:
    from evals.judge.questions import Question


def delta(value: object, old: object) -> float | None:
    if isinstance(value, bool) or isinstance(old, bool):
        return None
    if isinstance(value, int | float) and isinstance(old, int | float):
        return float(value) - float(old)
    return None


def runs_dir(profile: str, reports_dir: Path = REPORTS_DIR) -> Path:
    return reports_dir / profile / "runs"


def previous_run(profile: str, before: str | None = None,
                 reports_dir: Path = REPORTS_DIR) -> tuple[str, RunSummary] | None:
    """The latest run of ``profile`` with a summary (ids sort by time), older than ``before``."""
    folder = runs_dir(profile, reports_dir)
    if not folder.is_dir():
        return None
    ids = sorted(p.name for p in folder.iterdir() if (p / "summary.json").is_file())
    ids = [i for i in ids if before is None or i < before]
    if not ids:
        return None
    return ids[-1], RunSummary.read(folder / ids[-1] / "summary.json")


def recent_runs(reports_dir: Path = REPORTS_DIR) -> list[Path]:
    """Every run's ``summary.json`` of every profile or dataset, oldest first (by the time
    the run started: its id)."""
    found = list(reports_dir.glob("*/runs/*/summary.json"))
    # ids are start times to the second; two folders' runs in one second: the later written
    return sorted(found, key=lambda p: (p.parent.name[:16], p.stat().st_mtime))


def resolve_run(ref: str | Path, reports_dir: Path = REPORTS_DIR) -> Path:
    """The ``summary.json`` of ``latest`` / ``previous`` (the two most recent runs of any
    profile or dataset), a run id, run folder or summary file."""
    if str(ref) in ("latest", "previous"):
        runs = recent_runs(reports_dir)
        need = 1 if ref == "latest" else 2
        if len(runs) < need:
            raise ValueError(f"{ref}: there are only {len(runs)} runs under {reports_dir}")
        return runs[-need]
    path = Path(ref)
    if path.is_file():
        return path
    if (path / "summary.json").is_file():
        return path / "summary.json"
    found = sorted(reports_dir.glob(f"*/runs/{ref}/summary.json"))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ValueError(f"run id {ref} is in several profiles: {[str(f) for f in found]}")
    raise ValueError(f"no run {ref!r}: not a summary.json, a run folder, or an id under "
                     f"{reports_dir}/<profile>/runs/")


def _flat_knobs(summary: RunSummary) -> dict[str, object]:
    """``notebook param`` and ``notebook settings.field`` -> value."""
    out: dict[str, object] = {}
    for notebook, params in summary.parameters.items():
        for key, value in params.items():
            if key not in ("output_dir", "settings"):
                out[f"{notebook}: {key}"] = value
    for notebook, fields in summary.settings.items():
        for key, setting in fields.items():
            out[f"{notebook}: settings.{key}"] = setting.value
    return out


def changes(old: RunSummary, new: RunSummary) -> list[str]:
    """``quality: settings.context_token_budget 1200 -> 600`` for every parameter or Settings
    value that differs between two runs (of notebooks both ran); ``state_dir`` ignored."""
    a, b = _flat_knobs(old), _flat_knobs(new)
    out = []
    for key in sorted(set(a) & set(b)):
        ignored = ("settings.state_dir", "settings.model_cache_dir")
        if a[key] != b[key] and not key.endswith(ignored):
            out.append(f"{key} {a[key]!r} -> {b[key]!r}")
    notebooks_a, notebooks_b = set(old.parameters), set(new.parameters)
    if notebooks_a != notebooks_b:
        out.append(f"notebooks {sorted(notebooks_a)} -> {sorted(notebooks_b)}")
    return out


def moved(name: str, old: object, new: object, bands: Mapping[str, float]) -> bool:
    """A metric moved: it appeared, vanished or changed, by more than its noise band (the
    range of repeated runs, ``evals.report.noise``) when one was measured. A timing figure
    (``noise.timing``) moved only beyond ``TIMING_FACTOR`` times its measured band; without a
    band it never counts as moved (:func:`unjudged` names it)."""
    from evals.report import noise

    if old is None or new is None:
        return old is not new
    change = delta(new, old)
    if change is None:
        return bool(old != new)
    if noise.timing(name):
        band = bands.get(name)
        return bool(band) and not noise.within(change, noise.TIMING_FACTOR * float(band or 0))
    return change != 0 and not noise.within(change, bands.get(name))


def _queries(a: RunSummary, b: RunSummary) -> int:
    """The fewer queries of the two runs' retrieval notebooks (0: not known)."""
    counts = [s.parameters.get("retrieval", {}).get("n_queries") for s in (a, b)]
    known = [int(c) for c in counts if isinstance(c, int | float) and not isinstance(c, bool)]
    return min(known) if len(known) == 2 else 0


def _sampling_bands(a: RunSummary, b: RunSummary, names: Sequence[str]) -> dict[str, float]:
    """The band of each approximate-search recall both runs measured (``noise.sampled``)."""
    from evals.report import noise

    n = _queries(a, b)
    out = {}
    for name in names:
        old, new = a.metrics.get(name), b.metrics.get(name)
        if (n and noise.sampled(name) and isinstance(old, int | float)
                and isinstance(new, int | float)):
            out[name] = noise.sampling_band(float(old), float(new), n)
    return out


def unjudged(names: Sequence[str], bands: Mapping[str, float]) -> list[str]:
    """The timing figures among ``names`` that no measured band judges: left out of a
    comparison's moved metrics, since they move with the machine's load."""
    from evals.report import noise

    return [n for n in names if noise.timing(n) and not bands.get(n)]


def question_lines(before: Sequence[Question], after: Sequence[Question]) -> list[str]:
    """The questions that flipped between two runs (newly failing first), then each
    per-question metric's change with its paired interval and whether it is within noise."""
    from evals.judge import baseline, paired, questions

    if not before or not after:
        return []
    failing, passing = questions.flips(before, after)
    lines = [f"Questions that passed every check: first run "
             f"{questions.rate_text(sum(q.passed for q in before), len(before))}, second run "
             f"{questions.rate_text(sum(q.passed for q in after), len(after))}.", ""]
    lines += baseline.flip_markdown(failing, passing, "the first run")
    lines += ["## Per-question metrics (paired bootstrap, 95 % interval)", ""]
    lines += [f"- `{c.name}`: {c.text()}" for c in paired.changes(before, after)] or ["- none"]
    return lines + [""]


def compare(a: RunSummary, b: RunSummary, name_a: str = "A", name_b: str = "B", *,
            show_all: bool = True, bands: Mapping[str, float] | None = None,
            questions: tuple[Sequence[Question], Sequence[Question]] = ((), ()),
            counts: tuple[Mapping[str, tuple[int, int]], Mapping[str, tuple[int, int]]] = (
                {}, {})) -> str:
    """Markdown: the changes from A to B, the gates whose status differs, the questions that
    flipped (``questions``: each run's judged questions) and the per-question metrics' paired
    intervals, then the metrics (every one with ``show_all``, else those that moved beyond
    their noise band); ``counts``: each run's rates over questions as (ones, questions),
    shown beside the rate with its 95 % Wilson interval."""
    from evals.report.tables import md_table

    lines = [f"# Run {name_b} against run {name_a}", ""]
    change = changes(a, b)
    lines += ["## What changed", ""] + ([f"- {c}" for c in change] or ["- nothing"])
    # without --all, only notebooks both runs ran are compared (an --only run is no regression)
    both = set(a.parameters) & set(b.parameters)

    def shared(name: str) -> bool:
        return show_all or not both or name.split(".", 1)[0] in both

    status_a = {g.name: g.passed for g in a.gates}
    flips = [(g.name, status_a[g.name], g.passed) for g in b.gates
             if g.name in status_a and status_a[g.name] != g.passed and shared(g.name)]
    word: dict[object, str] = {True: "passed", False: "FAILED", None: "skipped"}
    lines += ["", "## Gates whose status changed", ""]
    lines += [f"- `{n}`: {word[x]} -> {word[y]}" for n, x, y in flips] or ["- none"]
    flipped = question_lines(*questions)
    if flipped:
        lines += ["", *flipped]
    ma, mb = a.metrics, b.metrics
    rows = []
    names = sorted(n for n in set(ma) | set(mb) if shared(n))
    bands = {**(bands or {}), **_sampling_bands(a, b, names)}
    for name in names:
        va, vb = ma.get(name), mb.get(name)
        if not show_all and not moved(name, va, vb, bands or {}):
            continue
        rows.append([f"`{name}`", _with_count(name, va, counts[0]),
                     _with_count(name, vb, counts[1]),
                     units.fmt_delta(name, delta(vb, va), vb) if vb is not None else "-"])
    title = "Metrics" if show_all else (
        f"Metrics that moved beyond their noise band ({len(rows)} of {len(names)}"
        + (f" of the notebooks both ran: {', '.join(sorted(both))}" if both else "")
        + "; `--all` shows every one)")
    table = md_table(["metric", name_a, name_b, "Δ"], rows) if rows else "- none"
    lines += ["", f"## {title}", "", table, ""]
    left_out = [] if show_all else unjudged(names, bands)
    sampled = [n for n in names if n in _sampling_bands(a, b, names)]
    if sampled and not show_all:
        lines += [f"Recalls of the HNSW index judged against the sampling noise of their "
                  f"{_queries(a, b)} queries (the index is built at random): {len(sampled)}.",
                  ""]
    if left_out:
        lines += [f"Timing figures left out: {len(left_out)} (latencies, durations, "
                  "throughput). They move with the machine's load, not with the code or the "
                  "settings, and no spread of them was measured for these runs (`python -m "
                  "evals spread` measures the golden set's); `--all` shows them.", ""]
    return "\n".join(lines)


def compare_runs(ref_a: str | Path = "previous", ref_b: str | Path = "latest",
                 reports_dir: Path = REPORTS_DIR, *, show_all: bool = False) -> str:
    from evals.report import noise

    path_a, path_b = resolve_run(ref_a, reports_dir), resolve_run(ref_b, reports_dir)
    (a, questions_a), (b, questions_b) = _load_run(path_a), _load_run(path_b)
    bands = {**noise.bands(a.profile), **noise.bands(b.profile)}
    if a.run.dataset is not None or b.run.dataset is not None or _is_baseline(path_a, path_b):
        # the spread files measure the golden set's timings, on the machine that ran them:
        # no band for a dataset's, whose timings then stay out of the moved metrics
        bands = {name: band for name, band in bands.items() if not noise.timing(name)}
    return compare(a, b, _label(path_a), _label(path_b), show_all=show_all, bands=bands,
                   questions=(questions_a, questions_b),
                   counts=(_counts(path_a, a), _counts(path_b, b)))


def _with_count(name: str, value: object, counts: Mapping[str, tuple[int, int]]) -> str:
    shown = units.fmt_value(name, value)
    return f"{shown} ({count_text(counts, name, short=True)})" if name in counts else shown


def _counts(path: Path, summary: RunSummary) -> dict[str, tuple[int, int]]:
    """The counts behind a run's rates over questions, from the quality rows beside its
    summary (none for a dataset's baseline.json or a run without them)."""
    from evals.judge.questions import read_rows
    from evals.report.rates import question_counts

    return question_counts(read_rows(path.parent), summary.metrics, summary.metrics)


def _load_run(path: Path) -> tuple[RunSummary, list[Question]]:
    """A run's summary and judged questions: ``summary.json`` and ``questions.jsonl`` beside
    it, or a dataset's ``baseline.json`` (its run, metrics and questions)."""
    from evals.judge import baseline
    from evals.judge.questions import QUESTIONS_FILE, read

    data = json.loads(path.read_text())
    if isinstance(data, dict) and "questions" in data:
        held = baseline.load(path)
        origin = held.origin
        return RunSummary(origin.profile, origin.started_at, origin.git_commit,
                          RunInfo(id=origin.id), held.parameters,
                          settings_from_json(held.settings, f"{path}.settings"),
                          metrics=held.metrics), held.questions
    return RunSummary.from_json(data, str(path)), read(path.parent / QUESTIONS_FILE)


def _is_baseline(*paths: Path) -> bool:
    """True when one of the summaries is a dataset's ``baseline.json``."""
    return any(p.name == "baseline.json" for p in paths)


def _label(summary: Path) -> str:
    """``ci/20261124T170000Z`` for a run's summary, else the file's folder name."""
    if summary.parent.parent.name == "runs":
        return f"{summary.parent.parent.parent.name}/{summary.parent.name}"
    return summary.parent.name
