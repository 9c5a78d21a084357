"""The multi-turn golden set (``golden/conversations.jsonl``) and its scoring
(``evals.conversations``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evals.conversations import dataset, score
from evals.datasets import golden
from evals.datasets.loader import DatasetError


@pytest.fixture(scope="module")
def notes() -> pd.DataFrame:
    return golden.load_notes()


def test_the_golden_set_holds_what_the_issue_asks(notes: pd.DataFrame) -> None:
    convs = dataset.load(score.notes_of(notes))
    assert len(convs) >= 30
    assert all(2 <= len(c.turns) <= 4 for c in convs)
    later = [t for c in convs for t in c.turns[1:]]
    kinds = {t.kind for t in later}
    assert {"pronoun", "demonstrative", "ellipsis", "new_subject"} <= kinds
    assert any(t.expect_no_context for t in later)  # some turns unanswerable
    assert {c.split for c in convs} == {"dev", "test"}
    assert {c.user_id for c in convs} == set(golden.users(notes))


def _write(tmp_path: Path, conv: Mapping[str, object]) -> Path:
    (tmp_path / dataset.FILE).write_text(json.dumps(conv) + "\n", encoding="utf-8")
    return tmp_path


GOOD: dict[str, Any] = {"id": "c1", "user_id": "ben", "split": "test", "turns": [
    {"kind": "first", "question": "Who preached on Micah 6:8?",
     "standalone_question": "Who preached on Micah 6:8?", "reference_note_ids": ["ben-002"]},
    {"kind": "pronoun", "question": "What else did she preach on?",
     "standalone_question": "What else did Rev. Grace Abernathy preach on?",
     "reference_note_ids": ["ben-007"]}]}


@pytest.mark.parametrize(("change", "says"), [
    ({"user_id": "zoe"}, "has no notes"),
    ({"split": "train"}, "split"),
    ({"turns": GOOD["turns"][:1]}, "2-4 turns"),
    ({"turns": [GOOD["turns"][0], {**GOOD["turns"][1], "reference_note_ids": ["amara-001"]}]},
     "not a note of the user"),
    ({"turns": [GOOD["turns"][0], {**GOOD["turns"][1], "reference_note_ids": []}]},
     "expect_no_context"),
    ({"turns": [GOOD["turns"][0], {**GOOD["turns"][1], "kind": "guess"}]}, "kind"),
    ({"turns": [GOOD["turns"][0], {**GOOD["turns"][1],
                                   "standalone_question": "What else did she preach on?"}]},
     "must differ"),
    ({"turns": [GOOD["turns"][1], GOOD["turns"][0]]}, "first turn"),
])
def test_a_broken_conversation_is_refused_with_its_code(
        tmp_path: Path, notes: pd.DataFrame, change: dict[str, object], says: str) -> None:
    _write(tmp_path, {**GOOD, **change})
    with pytest.raises(DatasetError, match=says) as caught:
        dataset.load(score.notes_of(notes), tmp_path)
    assert caught.value.code == dataset.CODE


def test_a_good_conversation_loads(tmp_path: Path, notes: pd.DataFrame) -> None:
    _write(tmp_path, GOOD)
    (conv,) = dataset.load(score.notes_of(notes), tmp_path)
    assert conv.turns[1].reference_note_ids == ("ben-007",)


def test_accuracy_compares_what_the_questions_name() -> None:
    assert score.constraints("What else did Rev. Grace Abernathy preach on, in 2023?") == \
        score.constraints("What did Rev. Grace Abernathy preach on in 2023 besides that?")
    assert score.constraints("What did Rev. Grace Abernathy preach in 2023?") != \
        score.constraints("What did Rev. Grace Abernathy preach in 2024?")
    assert score.constraints('When was the sermon "Still Waters" preached?') != \
        score.constraints("When was it preached?")


def test_rewrites_run_on_the_golden_history_and_score_retrieval(
        tmp_path: Path, notes: pd.DataFrame) -> None:
    _write(tmp_path, GOOD)
    rows = score.rewrites(dataset.load(score.notes_of(notes), tmp_path), notes)
    (row,) = rows.to_dict("records")
    assert row["rewritten"] == "What else did Rev. Grace Abernathy preach on?"
    assert (row["accurate"], row["made_by_agrees"]) == (1.0, 1.0)

    # a search that finds the note only when the speaker is named (as narrowing does)
    def search(user: str, question: str) -> list[str]:
        return ["ben-007"] if "Abernathy" in question else ["ben-001"]

    def ask(user: str, question: str) -> score.Said:
        return score.Said(False, tuple(search(user, question)), "She preached on Amos [1].")

    scored = score.score(rows, search, ask)
    # what the per-question baseline judges the turn by (``evals.judge.turns``)
    (kept,) = scored[["retrieved_note_ids", "cited_note_ids", "no_context", "answer"]].to_dict(
        "records")
    assert kept == {"retrieved_note_ids": ["ben-007"], "cited_note_ids": ["ben-007"],
                    "no_context": False, "answer": "She preached on Amos [1]."}
    figures = score.summarise(scored)
    assert figures["followup_recall_at_5"] == figures["standalone_recall_at_5"] == 1.0
    assert figures["raw_recall_at_5"] == 0.0  # the follow-up as typed finds nothing
    assert figures["followup_recall_gap"] == 0.0
    assert figures["followup_no_context_accuracy"] == figures["followup_cited_reference"] == 1.0
    assert score.by_kind(scored).loc["pronoun", "n"] == 1
