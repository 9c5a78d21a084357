"""Do the user's notes answer the question at all? The no-context decision before the model:
it refuses only on evidence of absence that holds however the question is worded (its rules,
one line each: the README beside this file; figures and ablation: ``docs/decisions.md``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag_core.config import DecisionSettings, Settings, fixed
from rag_core.decision_records import RelevanceRecord, RuleCheck
from rag_core.decisions import note_facts
from rag_core.text.named import asked
from rag_core.types import Chunk

RULES = ("retrieved", "similarity", *note_facts.KINDS)


@dataclass(frozen=True)
class RelevancePolicy:
    floor: float = DecisionSettings.model_fields["similarity_threshold"].default
    facts: bool = True  # a fact the question names must be stated in the notes
    # the embedding model, whose whole words tell a keyboard slip in a name from another word
    model: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> RelevancePolicy:
        return cls(floor=settings.decisions.similarity_threshold, facts=fixed.RELEVANCE_NAMES,
                   model=settings.embedding.embedding_model)


def decide_relevance(query: str, chunks: Sequence[Chunk], policy: RelevancePolicy | None = None,
                     notes: note_facts.NoteFacts | Callable[[], note_facts.NoteFacts] | None
                     = None) -> RelevanceRecord:
    """Answer from these chunks, or say that the notes have nothing on it (and why).
    ``notes``: the facts of all the user's notes, or what reads them when a question names a
    fact (default: the facts of ``chunks``)."""
    policy = policy or RelevancePolicy()
    checks: dict[str, RuleCheck] = {}
    checks["retrieved"] = RuleCheck(bool(chunks), f"{len(chunks)} chunks")
    best = max((c.score for c in chunks), default=0.0)
    found: dict[str, tuple[list[str], list[str]]] = {}
    if policy.facts and (wanted := asked(query)):
        held = notes() if callable(notes) else notes
        found = note_facts.absent(wanted, held or note_facts.of_notes(
            (c.text, c.metadata) for c in chunks), policy.model)
        for kind, (named, lacking) in found.items():
            checks[kind] = RuleCheck(not lacking, f"in none of your notes: {lacking}" if lacking
                                     else f"all of {named} in your notes")
    # a name the notes hold is something close, however far the question embeds from it
    names = found.get("names", ([], ["-"]))
    checks["similarity"] = RuleCheck(
        best >= policy.floor or not names[1],
        f"best cosine {best:.3f} vs floor {policy.floor:.3f}"
        + (f"; {names[0]} in your notes" if not names[1] else ""))
    failed = [r for r in RULES if r in checks and not checks[r].passed]
    return RelevanceRecord(answer=not failed, reason=failed[0] if failed else "relevant",
                           checks=checks)
