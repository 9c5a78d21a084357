"""``index.html`` beside ``summary.md``: the run's questions on one static page that opens
offline (no script or style from the network). It opens with the verdict, the gates that
failed, the settings that differ from the baseline's and the questions new, changed or gone
since it (``evals.report.page_head``), then the follow-up questions' figures
(``evals.report.page_conversations``). The questions that flipped against the baseline come
next, then every question (a later turn of a conversation with its standalone question) with
its answer, citations and checks, filtered by pass or fail with the buttons at the top (or
the address's fragment: ``index.html#fail``, ``#pass``, ``#all``, so a filtered view can be
linked to); the plots follow with their captions.
Every text from the notes or the answers is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from evals.gates import GateResult
from evals.judge.outcome import Judged
from evals.judge.questions import Comparison, Flip, Question
from evals.report.figures import PLOTS_DIR, caption, plot_files
from evals.report.page_conversations import section_html
from evals.report.page_head import Head, head_html, setting_changes
from evals.report.record import NotebookOutcome
from evals.report.run_report import RunReport

PAGE = "index.html"
STYLE = """body{font:14px/1.4 sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;
width:100%}td,th{border:1px solid #ccc;padding:4px;vertical-align:top;text-align:left}
tr.fail td:first-child{border-left:4px solid #c00}tr.pass td:first-child{border-left:4px solid
#080}.flip{background:#fee}#verdict{padding:0 1em 1em;border:2px solid}#verdict.passed{
border-color:#080}#verdict.failed{border-color:#c00}figure{margin:1em 0}img{max-width:100%}"""
FILTERS = ("all", "fail", "pass")
# the filter follows the fragment (a button sets it), so a view opened as index.html#fail is one
SCRIPT = """function show(kind){if(['all','fail','pass'].indexOf(kind)<0){kind='all';}
var n=0;document.querySelectorAll('tr[data-state]').forEach(function(r){
var on=kind==='all'||r.dataset.state===kind;r.style.display=on?'':'none';
if(on&&r.closest('#every')){n++;}});var s=document.getElementById('shown');
if(s){s.textContent='showing '+kind+': '+n;s.dataset.filter=kind;}}
function fromHash(){show(location.hash.replace('#',''));}
window.addEventListener('hashchange',fromHash);
document.addEventListener('DOMContentLoaded',fromHash);"""


def _row(q: Question, flipped: set[str], before: Question | None = None) -> str:
    """One question; ``before``: its row in the baseline (a flip shows that answer too)."""
    state = "pass" if q.passed else "fail"
    checks = "<br>".join(f"{'✓' if ok else '✗'} {escape(name)}" for name, ok in q.checks.items())
    cls = f"{state} flip" if q.id in flipped else state
    refs = ", ".join(q.reference_note_ids)
    answer = escape(q.answer)
    result = state.upper()
    if before is not None:
        answer += f"<br><small>before: {escape(before.answer)}</small>"
        result += f"<br><small>{'passed' if before.passed else 'failed'} before</small>"
    return (f'<tr class="{cls}" data-state="{state}" id="q-{escape(q.id)}">'
            f"<td>{escape(q.id)}<br>{escape(q.user_id)}</td><td>{escape(q.question)}"
            + (f"<br><small>standalone: {escape(q.standalone_question)}</small>"
               if q.standalone_question else "") + "</td>"
            f"<td>{escape(q.expected)}"
            + (f"<br><small>reference: {escape(refs)}</small>" if refs else "")
            + f"</td><td>{answer}</td>"
            f"<td>{escape(', '.join(q.cited_note_ids) or '-')}<br><small>retrieved: "
            f"{escape(', '.join(q.retrieved_note_ids) or '-')}</small></td>"
            f"<td>{checks}</td><td>{result}</td></tr>")


def write_page(folder: Path, title: str, questions: Sequence[Question],
               newly_failing: Sequence[Flip] = (), newly_passing: Sequence[Flip] = (),
               plots: Sequence[tuple[str, Path]] = (), head: Head | None = None,
               metrics: Mapping[str, object] | None = None,
               gates: Sequence[GateResult] = ()) -> Path:
    """``folder/index.html``; ``newly_failing`` / ``newly_passing``: flips against the
    baseline; ``plots``: (notebook, png), shown when copied beside; ``head``: the verdict,
    failed gates, changed settings and new, changed or gone questions the page opens with;
    ``metrics`` (the run's, with ``gates``): the follow-up figures' section
    (``evals.report.page_conversations``)."""
    flips = [*newly_failing, *newly_passing]
    ids = {f.id for f in flips}
    columns = "<tr><th>id</th><th>question</th><th>expected</th><th>answer</th>" \
           "<th>cited</th><th>checks</th><th>result</th></tr>"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>",
             f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body>",
             f"<h1>{escape(title)}</h1>",
             *([head_html(head)] if head is not None else []),
             f"<p>{sum(q.passed for q in questions)} of "
             f"{len(questions)} questions pass every check.</p>"]
    follow_ups = section_html(metrics or {}, gates, [q for q in questions if q.conversation])
    if follow_ups:
        parts.append(follow_ups)
    if flips:
        parts += [f"<h2>Questions that flipped against the baseline: {len(newly_failing)} "
                  f"newly failing, {len(newly_passing)} newly passing</h2>",
                  f"<table>{columns}", *[_row(f.after, ids, f.before) for f in flips],
                  "</table>"]
    buttons = " ".join(f"<button onclick=\"location.hash='{kind}'\">{label}</button>"
                       for kind, label in zip(FILTERS, ("all", "failing", "passing"),
                                              strict=True))
    parts += [f"<h2>Every question</h2><p>Show: {buttons} <span id='shown'></span></p>",
              f"<table id='every'>{columns}", *[_row(q, ids) for q in questions], "</table>"]
    shown = [(name, folder / PLOTS_DIR / png.name) for name, png in plots]
    shown = [(name, png) for name, png in shown if png.is_file()]
    if shown:
        parts.append("<h2>Plots</h2>")
        parts += [f"<figure><img src='{PLOTS_DIR}/{escape(png.name)}' alt='{escape(png.stem)}'>"
                  f"<figcaption>{escape(caption(png, name))}</figcaption></figure>"
                  for name, png in shown]
    path = folder / PAGE
    path.write_text("\n".join([*parts, "</body></html>"]) + "\n", encoding="utf-8")
    return path


def write_run_page(judged: Judged, folder: Path, title: str,
                   outcomes: Sequence[NotebookOutcome], this: RunReport) -> None:
    """``index.html`` beside a run's report, when the run judged questions; it opens with this
    run's own verdict (never one of rows an ``--only`` run kept from an earlier run)."""
    if not judged.questions:
        return
    verdict = judged.verdict
    head = Head(passed=not this.failed,
                failed_gates=[r for r in this.results if r.status == "failed"],
                failed_notebooks=[n.name for n in this.notebooks if not n.ok],
                settings=(setting_changes(verdict.baseline.settings, this.summary.settings)
                          if verdict else ()),
                baseline=verdict.baseline.origin.id if verdict else None,
                compared=verdict.compared if verdict else Comparison())
    write_page(folder, title, judged.questions, verdict.newly_failing if verdict else (),
               verdict.newly_passing if verdict else (), plot_files(outcomes), head,
               this.summary.metrics, this.results)
