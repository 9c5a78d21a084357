"""What the semantic-cache decision compares beyond the two questions: their evidence.

A question's evidence is what it retrieved (the best chunks, best first). Two questions may
share an answer only when they rest on the same evidence: the same best note or chunk
(``evidence_check``), the same best sentence of it (``sentence_check``), and, where the two
embeddings are only moderately close, no noun found in the evidence that one question asks
about and the other does not mention while it names another noun of the evidence instead
(``grounded_check``: "the flour Sarah used" and "the water Abraham brought" both rest on the
same sentence of the same chunk, but on different words of it).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rag_core.decisions import lemma_sets, nlp
from rag_core.decisions.sentences import same_best_sentence

# (words, candidates) -> {word: (cosine, closest candidate)}: WordMatcher.closest
Similar = Callable[[Sequence[str], Sequence[str]], dict[str, tuple[float, str]]]


@dataclass(frozen=True)
class Check:
    rule: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Evidence:
    """The chunks a question retrieved, best first (texts only where known)."""

    chunk_ids: tuple[str, ...] = ()
    note_ids: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()

    @classmethod
    def of(cls, chunks: Sequence[Any], depth: int) -> Evidence:
        top = list(chunks)[:depth]
        return cls(tuple(c.chunk_id for c in top), tuple(c.note_id for c in top),
                   tuple(c.text for c in top))

    def to_dict(self) -> dict[str, list[str]]:
        return {"c": list(self.chunk_ids), "n": list(self.note_ids), "t": list(self.texts)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Evidence:
        data = data or {}
        return cls(tuple(data.get("c", ())), tuple(data.get("n", ())), tuple(data.get("t", ())))


def evidence_check(mode: str, new: Evidence, cached: Evidence) -> Check:
    if not new.chunk_ids or not cached.chunk_ids:
        return Check("evidence", False, "no retrieved chunks to compare")
    if mode == "chunk":
        ok = new.chunk_ids[0] == cached.chunk_ids[0]
    elif mode == "note":  # each best note among the other's two best chunks' notes
        ok = new.note_ids[0] in cached.note_ids[:2] and cached.note_ids[0] in new.note_ids[:2]
    else:  # overlap: each best chunk among the other's two best
        ok = new.chunk_ids[0] in cached.chunk_ids[:2] and cached.chunk_ids[0] in new.chunk_ids[:2]
    return Check("evidence", ok, f"best chunk {new.chunk_ids[0]} vs {cached.chunk_ids[0]}")


def sentence_check(a: nlp.Facts, b: nlp.Facts, new: Evidence, cached: Evidence,
                   depth: int = 1, top: int = 3) -> Check:
    """Both questions rest on the same sentence of their best chunks (``sentences``)."""
    ok, detail = same_best_sentence(a, b, (*cached.texts[:depth], *new.texts[:depth]), top)
    return Check("sentence", ok, detail)


def word_variant(word: str, others: Sequence[str]) -> bool:
    """The other question has a form of ``word`` (pray / prayer, forgive / forgiveness)."""
    def related(x: str, y: str) -> bool:
        short, long_ = sorted((x, y), key=len)
        return len(short) >= 4 and (long_.startswith(short) or short[:6] == long_[:6]
                                    and len(short) >= 6)

    return any(o != word and related(word, o) for o in others)


def grounded_nouns(a: nlp.Facts, b: nlp.Facts, words: set[str] | frozenset[str]) -> list[str]:
    """The nouns of ``a`` found in ``words`` (the evidence) that ``b`` does not have in any
    form."""
    return sorted({w for w in a.nouns if w in words and w not in b.tokens
                   and not word_variant(w, b.tokens)})


def grounded_check(a: nlp.Facts, b: nlp.Facts, new: Evidence, cached: Evidence,
                   depth: int = 1) -> Check:
    """Refuse when each question names a noun of the best chunks that the other lacks: both
    ask about the evidence, about different things in it."""
    words = lemma_sets.lemmas_of((*cached.texts[:depth], *new.texts[:depth]))
    only_a, only_b = grounded_nouns(a, b, words), grounded_nouns(b, a, words)
    ok = not (only_a and only_b)
    return Check("grounded", ok, f"nouns of the evidence on one side only: {only_a} vs {only_b}")


def misspelt(x: str, y: str) -> bool:
    """One word written for the other with a slip: both of five letters or more, the same first
    letter, and at most one edit apart by sequence similarity (ratio >= 0.8)."""
    if min(len(x), len(y)) < 5 or x[0] != y[0]:
        return False
    return difflib.SequenceMatcher(None, x, y).ratio() >= 0.8
