"""The multi-turn golden set: one conversation a line of ``golden/conversations.jsonl``.

A conversation has an ``id``, the ``user_id`` who holds it, a ``split`` (dev or test, as the QA
items) and 2-4 ``turns``. A turn has its ``question`` as typed, the ``standalone_question`` it
should become, the ``reference_note_ids`` of the user's notes that answer it (empty when
nothing does: ``expect_no_context``) and its ``kind``: ``first`` (the opening question),
``pronoun`` ("she", "his"), ``demonstrative`` ("that sermon", "it", "the second one"),
``ellipsis`` ("and in 2023?") or ``new_subject`` (a follow-up that names its own subject and
stands alone). ``load`` refuses a set that breaks any of this with a ``DatasetError``
(``DATASET_BAD_CONVERSATION``) naming the conversation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from evals.datasets.loader import DatasetError
from evals.datasets.split import SPLITS
from evals.paths import GOLDEN_DIR

FILE = "conversations.jsonl"
KINDS = ("first", "pronoun", "demonstrative", "ellipsis", "new_subject")
FOLLOW_UPS = ("pronoun", "demonstrative", "ellipsis")  # the kinds a rewrite must change
MIN_TURNS, MAX_TURNS = 2, 4
CODE = "DATASET_BAD_CONVERSATION"


@dataclass(frozen=True)
class GoldenTurn:
    kind: str
    question: str
    standalone_question: str
    reference_note_ids: tuple[str, ...]
    expect_no_context: bool


@dataclass(frozen=True)
class Conversation:
    id: str
    user_id: str
    split: str
    turns: tuple[GoldenTurn, ...]


def _turn(raw: object, where: str, owned: set[str]) -> GoldenTurn:
    if not isinstance(raw, Mapping):
        raise DatasetError(CODE, f"{where}: a turn is a JSON object")
    kind, question, standalone = (raw.get(k) for k in ("kind", "question", "standalone_question"))
    ids = raw.get("reference_note_ids")
    if kind not in KINDS:
        raise DatasetError(CODE, f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if not (isinstance(question, str) and question.strip() and isinstance(standalone, str)
            and standalone.strip()):
        raise DatasetError(CODE, f"{where}: question and standalone_question must be text")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise DatasetError(CODE, f"{where}: reference_note_ids must be a list of note ids")
    foreign = sorted(set(ids) - owned)
    if foreign:
        raise DatasetError(CODE, f"{where}: {', '.join(foreign)} is not a note of the user")
    expect = bool(raw.get("expect_no_context", False))
    if expect == bool(ids):
        raise DatasetError(CODE, f"{where}: expect_no_context must be true exactly when no "
                                 "note is referenced")
    if kind in FOLLOW_UPS and question.strip() == standalone.strip():
        raise DatasetError(CODE, f"{where}: a {kind} follow-up must differ from its "
                                 "standalone question")
    return GoldenTurn(kind, question, standalone, tuple(ids), expect)


def parse(line: Mapping[str, object], notes_of: Mapping[str, set[str]]) -> Conversation:
    """One conversation, checked against ``notes_of`` (each user's note ids)."""
    cid, user, split, turns = (line.get(k) for k in ("id", "user_id", "split", "turns"))
    where = f"conversation {cid!r}"
    if not isinstance(cid, str) or not cid:
        raise DatasetError(CODE, f"{where}: id must be text")
    if user not in notes_of:
        raise DatasetError(CODE, f"{where}: user {user!r} has no notes in the set")
    if split not in SPLITS:
        raise DatasetError(CODE, f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    if not isinstance(turns, list) or not MIN_TURNS <= len(turns) <= MAX_TURNS:
        raise DatasetError(CODE, f"{where}: {MIN_TURNS}-{MAX_TURNS} turns")
    parsed = tuple(_turn(t, f"{where} turn {n}", notes_of[str(user)])
                   for n, t in enumerate(turns, 1))
    if parsed[0].kind != "first" or any(t.kind == "first" for t in parsed[1:]):
        raise DatasetError(CODE, f"{where}: the first turn, and only it, is of kind first")
    return Conversation(cid, str(user), str(split), parsed)


def load(notes_of: Mapping[str, set[str]], golden_dir: str | Path | None = None,
         split: str | None = None) -> list[Conversation]:
    """The conversations of the set (of one split when ``split`` is given), checked whole."""
    path = Path(golden_dir or GOLDEN_DIR) / FILE
    out: list[Conversation] = []
    seen: set[str] = set()
    for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            raise DatasetError("DATASET_BAD_JSON", f"{path}:{n} is not JSON") from None
        if not isinstance(line, dict):
            raise DatasetError("DATASET_BAD_JSON", f"{path}:{n} is not a JSON object")
        conversation = parse(line, notes_of)
        if conversation.id in seen:
            raise DatasetError(CODE, f"{path}:{n}: conversation id {conversation.id} repeated")
        seen.add(conversation.id)
        out.append(conversation)
    return [c for c in out if split is None or c.split == split]
