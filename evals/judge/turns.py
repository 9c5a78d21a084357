"""The later turns of the multi-turn set judged as questions, so the per-question baseline
knows a follow-up: one judged row (``evals.judge.questions.Question``) per row of the quality
notebook's ``quality_conversations.rows.jsonl`` (``evals.conversations.score``).

A turn is known by its conversation and its text: its ``fingerprint`` is that of the
conversation id and the follow-up as typed (with its reference notes, as a question's), so a
turn moved within its conversation is still the same turn, and the same words in another
conversation are another turn. Its id, ``<conversation>/turn-<n>`` (n from 1, the opening
question being turn 1), names it in the flips.

A turn passes when:

- ``standalone_accurate``: its rewrite names what the expected standalone question names;
- answerable: ``recall_as_standalone`` (the rewrite's recall@5 of the reference notes at least
  that of the expected standalone question: the follow-up finds what the same question asked
  on its own finds) and, when it was answered, ``not_refused``;
- expecting no context, when it was answered: ``refused``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

from evals.judge import questions
from evals.judge.questions import Question, fingerprint

ROWS_FILE = Path("quality") / "quality_conversations.rows.jsonl"
SCENARIO = "follow-up"


def turn_id(conversation: str, turn: int) -> str:
    """``turn``: the turn's index in its conversation from 0 (as the scored rows hold it)."""
    return f"{conversation}/turn-{turn + 1}"


def turn_fingerprint(conversation: str, question: str, note_ids: Iterable[str]) -> str:
    """A turn's identity: its conversation id and its text (and the notes it is about)."""
    return fingerprint(f"{conversation}\0{question}", note_ids)


def _ids(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _flag(value: object) -> bool | None:
    """A 0/1 figure of a row as a check; None when it was not measured."""
    number = _number(value)
    return None if number is None else number >= 1.0


def checks_of(row: Mapping[str, object]) -> dict[str, bool]:
    """The checks of one scored turn (see the module's docstring)."""
    refs = _ids(row.get("reference_note_ids"))
    answered = "no_context" in row and row.get("no_context") is not None
    refused = bool(row.get("no_context"))
    checks: dict[str, bool] = {}
    accurate = _flag(row.get("accurate"))
    if accurate is not None:
        checks["standalone_accurate"] = accurate
    if row.get("expect_no_context"):
        if answered:
            checks["refused"] = refused
    elif refs:
        follow, alone = _number(row.get("followup_recall")), _number(row.get("standalone_recall"))
        if follow is not None and alone is not None:
            checks["recall_as_standalone"] = follow >= alone
        if answered:
            checks["not_refused"] = not refused
    return checks


def judge(rows: Iterable[Mapping[str, object]]) -> list[Question]:
    """Judged turns of the scored follow-up rows."""
    out = []
    for row in rows:
        conversation, text = str(row.get("conversation")), str(row.get("question"))
        refs = _ids(row.get("reference_note_ids"))
        expected = str(row.get("expected") or "")
        turn = row.get("turn")
        out.append(Question(
            id=turn_id(conversation, int(turn) if isinstance(turn, int | float) else 0),
            user_id=str(row.get("user_id")), scenario=SCENARIO, question=text,
            expected=f"{expected} (no context)" if row.get("expect_no_context") else expected,
            reference_note_ids=refs, retrieved_note_ids=_ids(row.get("retrieved_note_ids")),
            cited_note_ids=_ids(row.get("cited_note_ids")),
            answer=str(row.get("answer") or ""), no_context=bool(row.get("no_context")),
            split=str(row.get("split") or "test"), checks=checks_of(row),
            fingerprint=turn_fingerprint(conversation, text, refs),
            conversation=conversation, standalone_question=str(row.get("rewritten") or "")))
    return out


def read_rows(run_dir: Path) -> list[dict[str, object]]:
    """The scored follow-up rows of a run (empty when the quality notebook scored none)."""
    return questions.read_rows(run_dir, ROWS_FILE)
