"""Follow-ups scored in notebook 01: each later turn of a golden conversation is rewritten by the
rules (``rag_core.conversations.rules``) on the golden history (the earlier turns' expected
standalone questions and the front matter of their reference notes, as the service keeps a turn),
then searched and answered on the rewritten question.

The figures (later turns only; the first turn of a conversation is an ordinary question):

- ``followup_recall_at_5``: recall@5 of the reference notes, retrieval on the rewritten question;
  ``standalone_recall_at_5`` the same turns asked as their expected standalone questions;
  ``followup_recall_gap`` the second minus the first (gated: at most 0.05);
  ``raw_recall_at_5`` the follow-up searched as typed, with no rewrite (what issue 80 found);
- ``standalone_accuracy``: the share of later turns whose rewrite names what the expected
  standalone question names: the same persons' names, years, scripture passages and quoted
  titles (``constraints``), so "Rev. Grace Abernathy, in 2023" matches however it is worded;
  ``made_by_agreement``: the share rewritten when the set says they must be (pronoun,
  demonstrative, ellipsis) and left unchanged when they name their own subject;
- ``followup_no_context_accuracy``: the answers of later turns, said "nothing in your notes"
  exactly when the set expects it; ``followup_cited_reference``: answered later turns that cite
  a reference note.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evals.conversations.dataset import FILE, FOLLOW_UPS, Conversation, load
from evals.datasets.split import SPLITS
from evals.metrics import retrieval
from evals.paths import GOLDEN_DIR
from rag_core.conversations.rules import rewrite_by_rules
from rag_core.conversations.turns import CitedNote, Rewriter, Turn
from rag_core.text.named import asked
from rag_core.text.nlp import passages

if TYPE_CHECKING:
    from rag_core.pipeline import Pipeline

_QUOTED = re.compile(r'"([^"]+)"')
META_FIELDS = ("speaker", "date", "series", "scripture", "tags")
Search = Callable[[str, str], Sequence[str]]  # (user, question) -> note ids in rank order


@dataclass(frozen=True)
class Said:
    """What a later turn's answer did: said no context, the notes it cited, its text."""

    no_context: bool
    cited: tuple[str, ...]
    answer: str = ""


Ask = Callable[[str, str], Said]


def constraints(text: str) -> tuple[frozenset[object], ...]:
    """What a question names: names' words, years, passages and quoted titles (lower case)."""
    found = asked(text)
    return (frozenset(n.lower() for n in found.names), frozenset(found.years),
            frozenset(passages(text)), frozenset(t.lower() for t in _QUOTED.findall(text)))


def cited_notes(ids: Iterable[str], notes: pd.DataFrame) -> tuple[CitedNote, ...]:
    """The notes ``ids`` as a turn keeps its citations: title and front matter."""
    by_id = notes.set_index("id")
    out = []
    for note_id in ids:
        row = by_id.loc[note_id]
        out.append(CitedNote(note_id, str(row["title"]), {
            k: row[k] for k in META_FIELDS if k in row.index}))
    return tuple(out)


def rewrites(conversations: Sequence[Conversation], notes: pd.DataFrame,
             rewriter: Rewriter = rewrite_by_rules) -> pd.DataFrame:
    """One row per later turn: its question, the expected and the rewritten standalone
    question, how it was made and whether it is accurate."""
    rows: list[dict[str, object]] = []
    for conv in conversations:
        history: list[Turn] = []
        for n, turn in enumerate(conv.turns):
            if n:
                made = rewriter(turn.question, history)
                rows.append({
                    "conversation": conv.id, "turn": n, "user_id": conv.user_id,
                    "split": conv.split, "kind": turn.kind, "question": turn.question,
                    "expected": turn.standalone_question, "rewritten": made.question,
                    "made_by": made.made_by,
                    "reference_note_ids": list(turn.reference_note_ids),
                    "expect_no_context": turn.expect_no_context,
                    "accurate": float(constraints(made.question)
                                      == constraints(turn.standalone_question)),
                    "made_by_agrees": float((made.made_by != "unchanged")
                                            == (turn.kind in FOLLOW_UPS)),
                })
            history.append(Turn(turn.question, turn.standalone_question, "",
                                cited_notes(turn.reference_note_ids, notes)))
    return pd.DataFrame(rows)


def score(rows: pd.DataFrame, search: Search, ask: Ask | None = None) -> pd.DataFrame:
    """``rows`` (``rewrites``) with the recall@5 of the rewritten, expected and raw questions
    and the notes the rewritten one retrieved (``retrieved_note_ids``, top 5), and, with
    ``ask``, what the answer to the rewritten question did (``no_context``,
    ``cited_note_ids``, ``answer``: what the per-question baseline judges a turn by)."""
    out = rows.copy()
    recalls: dict[str, list[float]] = {"followup_recall": [], "standalone_recall": [],
                                       "raw_recall": []}
    answered: dict[str, list[float]] = {"no_context_correct": [], "cited_reference": []}
    retrieved: list[list[str]] = []
    said_rows: dict[str, list[object]] = {"no_context": [], "cited_note_ids": [], "answer": []}
    for row in rows.to_dict("records"):
        refs = list(row["reference_note_ids"])
        for name, text in (("followup_recall", row["rewritten"]),
                           ("standalone_recall", row["expected"]),
                           ("raw_recall", row["question"])):
            if not refs and name != "followup_recall":
                recalls[name].append(np.nan)  # nothing to recall; the rewrite's notes are kept
                continue
            found = retrieval.notes_in_rank_order(search(row["user_id"], text))[:5]
            if name == "followup_recall":
                retrieved.append(found)
            value = retrieval.recall_at_k(found, refs, 5) if refs else None
            recalls[name].append(np.nan if value is None else value)
        if ask is not None:
            said = ask(row["user_id"], row["rewritten"])
            said_rows["no_context"].append(said.no_context)
            said_rows["cited_note_ids"].append(list(said.cited))
            said_rows["answer"].append(said.answer)
            answered["no_context_correct"].append(float(said.no_context
                                                        == row["expect_no_context"]))
            answered["cited_reference"].append(
                float(bool(set(said.cited) & set(refs))) if refs and not said.no_context
                else np.nan)
    out["retrieved_note_ids"] = retrieved
    for name, values in {**recalls, **(answered if ask is not None else {}),
                         **(said_rows if ask is not None else {})}.items():
        out[name] = values
    return out


def _mean(values: pd.Series) -> float | None:
    kept = values.dropna()
    return round(float(kept.mean()), 6) if len(kept) else None


def summarise(scored: pd.DataFrame) -> dict[str, float | int | None]:
    """The notebook's figures (``quality.conversations.*``) of the scored later turns."""
    follow, alone = _mean(scored["followup_recall"]), _mean(scored["standalone_recall"])
    figures: dict[str, float | int | None] = {
        "turns": len(scored), "conversations": int(scored["conversation"].nunique()),
        "followup_recall_at_5": follow, "standalone_recall_at_5": alone,
        "followup_recall_gap": None if follow is None or alone is None
        else round(alone - follow, 6),
        "raw_recall_at_5": _mean(scored["raw_recall"]),
        "standalone_accuracy": _mean(scored["accurate"]),
        "made_by_agreement": _mean(scored["made_by_agrees"]),
    }
    if "no_context_correct" in scored:
        figures["followup_no_context_accuracy"] = _mean(scored["no_context_correct"])
        figures["followup_cited_reference"] = _mean(scored["cited_reference"])
    return figures


def by_kind(scored: pd.DataFrame) -> pd.DataFrame:
    """The figures per kind of follow-up (the notebook's table)."""
    cols = [c for c in ("accurate", "followup_recall", "standalone_recall", "raw_recall",
                        "no_context_correct") if c in scored]
    return scored.groupby("kind")[cols].mean().round(3).assign(
        n=scored.groupby("kind").size())


def notes_of(notes: pd.DataFrame) -> Mapping[str, set[str]]:
    """Each user's note ids (what ``dataset.load`` checks references against)."""
    return {str(u): set(map(str, g["id"])) for u, g in notes.groupby("user_id")}


def measure(pipeline: Pipeline, notes: pd.DataFrame, root: str | Path | None,
            split: str | None) -> tuple[pd.DataFrame, dict[str, float | int | None]]:
    """Notebook 01's follow-up figures: the set's conversations of ``split`` rewritten by the
    rules, searched (top 5) and answered through ``pipeline``; none without the set."""
    if not (Path(root or GOLDEN_DIR) / FILE).is_file():
        return pd.DataFrame(), {}
    convs = load(notes_of(notes), root, split if split in SPLITS else None)

    def search(user: str, question: str) -> list[str]:
        return [c.note_id for c in pipeline.search(user, question, top_k=5)]

    def ask(user: str, question: str) -> Said:
        answer = pipeline.ask(user, question)
        return Said(bool(answer.no_context), tuple(c.note_id for c in answer.citations),
                    str(answer.answer))

    scored = score(rewrites(convs, notes), search, ask)
    return scored, summarise(scored)
