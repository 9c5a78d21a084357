"""The follow-up questions' section of ``index.html``: the figures notebook 01 records under
``quality.conversations.`` (``evals.conversations.score.summarise`` is their one owner; the
page reads them from the run's metrics, as ``summary.md`` does), each with its gate when it
has one, then the later turns judged as questions (``evals.judge.turns``), each with the
standalone question it was rewritten to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from evals import units
from evals.gates import OPS, GateResult
from evals.judge.questions import Question

PREFIX = "quality.conversations."
# what each figure is, for a reader of the page (the figures themselves come from the run)
MEANING = {
    "turns": "later turns scored",
    "conversations": "conversations they belong to",
    "followup_recall_at_5": "recall@5, the follow-up rewritten to stand alone",
    "standalone_recall_at_5": "recall@5, the same turns asked as their expected standalone "
                              "questions",
    "followup_recall_gap": "standalone minus follow-up recall@5",
    "raw_recall_at_5": "recall@5, the follow-up searched as typed (no rewrite)",
    "standalone_accuracy": "rewrites that name what the expected standalone question names",
    "made_by_agreement": "rewritten when they must be, unchanged when they name their subject",
    "followup_no_context_accuracy": "later turns' answers: \"nothing in your notes\" exactly "
                                    "when expected",
    "followup_cited_reference": "answered later turns that cite a reference note",
}


def figures(metrics: Mapping[str, object]) -> dict[str, object]:
    """The run's follow-up figures by their short name, those ``MEANING`` knows first."""
    found = {name[len(PREFIX):]: value for name, value in metrics.items()
             if name.startswith(PREFIX)}
    order = {name: n for n, name in enumerate(MEANING)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _gate(result: GateResult | None) -> str:
    if result is None:
        return "-"
    op = OPS[result.op][0] if result.op in OPS else result.op
    return (f"{escape(result.status)}: {escape(op)} "
            f"{escape(units.fmt_value(result.name, result.threshold))}")


def section_html(metrics: Mapping[str, object], gates: Sequence[GateResult] = (),
                 turns: Sequence[Question] = ()) -> str:
    """The section ("" when the run recorded no follow-up figure)."""
    found = figures(metrics)
    if not found:
        return ""
    by_name = {g.name: g for g in gates}
    rows = [f"<tr><td><code>{escape(name)}</code></td>"
            f"<td>{escape(units.fmt_value(PREFIX + name, value))}</td>"
            f"<td>{escape(MEANING.get(name, ''))}</td>"
            f"<td>{_gate(by_name.get(PREFIX + name))}</td></tr>"
            for name, value in found.items()]
    passed = sum(q.passed for q in turns)
    return "\n".join([
        "<section id='follow-ups'><h2>Follow-up questions</h2>",
        "<table id='follow-up-figures'><tr><th>figure</th><th>value</th><th>what</th>"
        "<th>gate</th></tr>", *rows, "</table>",
        *([f"<p>{passed} of {len(turns)} later turns pass every check (their rows are among "
           "every question below, under their conversation's id).</p>"] if turns else []),
        "</section>"])
