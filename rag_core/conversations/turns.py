"""The shapes a conversation is made of, shared by its store, its rewrite and the pipeline.

A turn keeps what a later follow-up may refer back to: the question as asked, the standalone
question every step worked on, the answer, and the notes it cited with their front matter
(speaker, date, series, scripture, tags), so that "she", "that sermon" or "and in 2023?" can be
resolved without reading the notes again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

MadeBy = Literal["model", "rules", "unchanged"]


@dataclass(frozen=True)
class CitedNote:
    """A note an earlier answer cited, with the front matter a follow-up may refer to."""

    note_id: str
    title: str
    meta: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """One question and its answer, as the conversation keeps them."""

    question: str
    standalone_question: str
    answer: str
    citations: tuple[CitedNote, ...] = ()
    at: float = 0.0


@dataclass(frozen=True)
class Standalone:
    """A follow-up made to stand alone, and how (the answer's ``decisions.standalone``)."""

    question: str
    made_by: MadeBy
    reason: str = ""


class Rewriter(Protocol):
    """Makes ``question`` stand alone given the conversation so far (oldest turn first)."""

    def __call__(self, question: str, history: Sequence[Turn]) -> Standalone: ...
