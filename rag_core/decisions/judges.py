"""The two decisions as typed judges, built once (``rag_core.parts.build_judges``) and passed
in: the cache finds candidates and a ``SemanticJudge`` decides on each; retrieval finds chunks
and a ``NoContextJudge`` decides whether the notes answer at all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rag_core.decision_records import RelevanceRecord
from rag_core.decisions import relevance, semantic_rules
from rag_core.decisions.note_facts import NotesMemo
from rag_core.decisions.semantic_canonical import Form
from rag_core.types import Chunk


class SemanticJudge(Protocol):
    """May the answer of ``cached_query`` be reused for ``query``? (``policy``: what the cache
    reads to find candidates)."""

    @property
    def policy(self) -> semantic_rules.Policy: ...

    def decide(self, query: str, cached_query: str, similarity: float,
               new: semantic_rules.Evidence, cached: semantic_rules.Evidence,
               cached_form: Form | None = None) -> semantic_rules.Decision: ...


class NoContextJudge(Protocol):
    """Do the user's notes answer ``query`` at all, given what retrieval found?"""

    def decide(self, query: str, chunks: Sequence[Chunk], user_id: str,
               notes_version: int) -> RelevanceRecord: ...


@dataclass(frozen=True)
class RulesJudge:
    """The default semantic judge: ``semantic_rules.decide`` under one policy (the mode's)."""

    policy: semantic_rules.Policy

    def decide(self, query: str, cached_query: str, similarity: float,
               new: semantic_rules.Evidence, cached: semantic_rules.Evidence,
               cached_form: Form | None = None) -> semantic_rules.Decision:
        return semantic_rules.decide(query, cached_query, similarity, self.policy, new, cached,
                                     cached_form)


@dataclass(frozen=True)
class FactsJudge:
    """The default no-context judge: the score floor, then the facts the question names
    looked up in all of the user's notes (read once per notes version)."""

    policy: relevance.RelevancePolicy
    notes: NotesMemo

    def decide(self, query: str, chunks: Sequence[Chunk], user_id: str,
               notes_version: int) -> RelevanceRecord:
        return relevance.decide_relevance(query, chunks, policy=self.policy,
                                          notes=lambda: self.notes.get(user_id, notes_version))


@dataclass(frozen=True)
class Judges:
    no_context: NoContextJudge
    semantic: SemanticJudge
    notes: NotesMemo  # the facts of each user's notes, read once per version (shared)
