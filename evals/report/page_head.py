"""The top of ``index.html``: what a reader opening the results page wants first.

1. The verdict of this run (passed or FAILED: a gate failed or a notebook did not finish; the
   same rule as the exit code, on this run's own rows, never on rows an ``--only`` run kept
   from an earlier one).
2. The gates that failed, each with its figure, threshold and note.
3. The settings that differ from the baseline's: name, the baseline's value, this run's value
   and where this run's value came from (``env``, ``env-file``, ``dataset``, ``param``,
   ``profile``, ``default``).
4. The questions new, changed (another text under the same id) and gone since the baseline.

Every text is escaped: values come from the team's settings, the notes and the questions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from evals import units
from evals.gates import OPS, GateResult
from evals.judge.baseline import portable
from evals.judge.questions import Comparison
from evals.report.run_report import Setting

# the harness's own folders: they differ from one machine or run to the next, not by choice
IGNORED_SETTINGS = ("state_dir", "model_cache_dir")


@dataclass(frozen=True)
class SettingChange:
    """One setting whose value in this run is not the baseline's."""

    name: str
    baseline: object
    value: object
    source: str


@dataclass(frozen=True)
class Head:
    """What the page opens with."""

    passed: bool
    failed_gates: Sequence[GateResult] = ()
    failed_notebooks: Sequence[str] = ()
    settings: Sequence[SettingChange] = ()
    baseline: str | None = None  # the baseline's run id, when the run was compared with one
    compared: Comparison = field(default_factory=Comparison)


def setting_changes(baseline: Mapping[str, object],
                    run: Mapping[str, Mapping[str, Setting]]) -> list[SettingChange]:
    """The settings of the notebooks both ran whose value differs from the baseline's
    (``baseline``: ``summary.json``'s form, notebook -> field -> {value, source}). A setting
    that differs alike in several notebooks is listed once; when notebooks disagree, each is
    named (``retrieval: top_k``)."""
    # name -> (baseline value, this run's value, source) -> the notebooks that show it
    found: dict[str, dict[tuple[str, str, str], list[str]]] = {}
    values: dict[tuple[str, str, str], tuple[object, object]] = {}
    for notebook, fields in run.items():
        held = baseline.get(notebook)
        if not isinstance(held, Mapping):
            continue
        for name, setting in fields.items():
            row = held.get(name)
            if name in IGNORED_SETTINGS or not isinstance(row, Mapping):
                continue
            before, now = row.get("value"), portable(setting.value)
            if before != now:
                key = (repr(before), repr(now), setting.source)
                found.setdefault(name, {}).setdefault(key, []).append(notebook)
                values[key] = (before, now)
    out = []
    for name in sorted(found):
        variants = found[name]
        for key, notebooks in variants.items():
            shown = name if len(variants) == 1 else f"{', '.join(notebooks)}: {name}"
            before, now = values[key]
            out.append(SettingChange(shown, before, now, key[2]))
    return out


def _value(value: object) -> str:
    return escape(repr(value) if isinstance(value, str) else str(value))


def _gate(result: GateResult) -> str:
    op = OPS[result.op][0] if result.op in OPS else result.op
    note = f"<br><small>{escape(result.note)}</small>" if result.note else ""
    return (f"<tr class='fail'><td><code>{escape(result.name)}</code></td>"
            f"<td>{escape(units.fmt_value(result.name, result.value))}</td>"
            f"<td>{escape(op)} {escape(units.fmt_value(result.name, result.threshold))}"
            f"{note}</td></tr>")


def _questions(title: str, rows: list[str]) -> list[str]:
    if not rows:
        return []
    return [f"<h3>{escape(title)}: {len(rows)}</h3><ul>", *rows, "</ul>"]


def head_html(head: Head) -> str:
    """The verdict, the failed gates, the changed settings and the questions new, changed or
    gone, as HTML for the top of the page (every text escaped)."""
    word, cls = ("PASSED", "passed") if head.passed else ("FAILED", "failed")
    parts = [f"<section id='verdict' class='{cls}'><h2>Verdict: {word}</h2>"]
    if head.failed_notebooks:
        parts.append("<p>Notebooks that did not finish: "
                     + escape(", ".join(head.failed_notebooks)) + "</p>")
    if head.failed_gates:
        parts += [f"<h3>Gates that failed: {len(head.failed_gates)}</h3>",
                  "<table id='failed-gates'><tr><th>gate</th><th>value</th>"
                  "<th>threshold</th></tr>", *[_gate(g) for g in head.failed_gates],
                  "</table>"]
    elif not head.failed_notebooks:
        parts.append("<p>Every gate passed or was skipped.</p>")
    if head.baseline is None:
        parts.append("<p>No baseline: nothing to compare settings or questions with.</p>")
        return "\n".join([*parts, "</section>"])
    parts.append(f"<h3>Settings that differ from the baseline (run {escape(head.baseline)})"
                 f": {len(head.settings)}</h3>")
    if head.settings:
        parts += ["<table id='changed-settings'><tr><th>setting</th><th>baseline</th>"
                  "<th>this run</th><th>source</th></tr>",
                  *[f"<tr><td><code>{escape(s.name)}</code></td><td>{_value(s.baseline)}</td>"
                    f"<td>{_value(s.value)}</td><td>{escape(s.source)}</td></tr>"
                    for s in head.settings], "</table>"]
    else:
        parts.append("<p>Every setting is the baseline's.</p>")
    compared = head.compared

    def item(qid: str, text: str, state: str = "") -> str:
        shown = f" <small>({escape(state)})</small>" if state else ""
        return f"<li><code>{escape(qid)}</code>: {escape(text)}{shown}</li>"

    parts += _questions("Questions new since the baseline",
                        [item(q.id, q.question, "passes" if q.passed else "fails")
                         for q in compared.new])
    parts += _questions("Questions changed since the baseline (another text under the same id)",
                        [item(f.after.id, f.after.question,
                              f"was: {f.before.question}; "
                              + ("passes" if f.after.passed else "fails"))
                         for f in compared.changed])
    parts += _questions("Questions gone since the baseline",
                        [item(q.id, q.question) for q in compared.gone])
    if not (compared.new or compared.changed or compared.gone):
        parts.append("<p>The same questions as the baseline: none new, changed or gone.</p>")
    return "\n".join([*parts, "</section>"])
