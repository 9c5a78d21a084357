"""The strict mode's evidence for a reuse: the same focus, and every word accounted for.

Nearness of two embeddings says little about whether two questions have one answer (near misses
of a labelled set reach cosine 0.99). A reuse in ``strict`` mode must be justified word by
word instead:

``focus``     the same kind of answer asked for (``nlp.Facts.answer_type``: who / when / where
              / how many / what + its noun ...): "who" and "what" about one event differ;
``relation``  no preposition or subordinator on one side replaced by another on the other
              ("left from" / "went to", "before" / "after"); one added on one side is none;
``coverage``  every content word and name of each question is found in the other: the same
              lemma, a form of it (pray / prayer), a misspelling of it (one edit in a word of
              five letters or more), or a word the embedder's own word vectors put at cosine
              ``word_similarity`` or more. The new question's words may also be found in the
              sentences of the evidence the cached answer was built from (``evidence_words``):
              a question with context added is still the question. The donor's words must be
              in the new question: a donor that asked for more than the new question did is
              not reused ("Who was Aunt M.?" after "Who ate at Aunt M.'s extra plate?").

Synonyms come only from the embedder's word vectors (``rag_core.decisions.word_match``), never
from a list.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from rag_core.decisions import lemma_sets, nlp
from rag_core.decisions.semantic_evidence import Check, Evidence, word_variant

# kinds of answer that name no particular kind ("what ...", "what + a noun of no known kind")
OPEN = frozenset({"thing", "typed", "description"})
# (words, candidates) -> {word: (cosine, closest candidate)}: WordMatcher.closest
Similar = Callable[[Sequence[str], Sequence[str]], dict[str, tuple[float, str]]]


def words_of(f: nlp.Facts) -> list[str]:
    """The content lemmas and names of a question, in order, once each."""
    return list(dict.fromkeys([*f.content, *sorted(f.names)]))


def misspelt(x: str, y: str) -> bool:
    """One word written for the other with a slip: both of five letters or more, the same first
    letter, and at most one edit apart by sequence similarity (ratio >= 0.8)."""
    if min(len(x), len(y)) < 5 or x[0] != y[0]:
        return False
    return difflib.SequenceMatcher(None, x, y).ratio() >= 0.8


def _found(word: str, tokens: Sequence[str]) -> bool:
    return word in tokens or word_variant(word, tokens) or any(misspelt(word, t)
                                                               for t in tokens)


def uncovered(side: nlp.Facts, other: nlp.Facts, extra: frozenset[str],
              similar: Similar | None, threshold: float) -> tuple[list[str], list[str]]:
    """The words of ``side`` that ``other`` (or ``extra``, words of the evidence, for words
    other than names: who is asked about must be asked again) lacks, and the near-word
    matches used (``word~match cosine``)."""
    tokens = list(other.tokens)
    missing = [w for w in words_of(side) if not _found(w, tokens)
               and (w in side.names or w not in extra)]
    used: list[str] = []
    candidates = words_of(other)
    if missing and similar is not None and candidates:
        near = {w: m for w, m in similar(missing, candidates).items() if m[0] >= threshold}
        used = [f"{w}~{m} {s:.2f}" for w, (s, m) in near.items()]
        missing = [w for w in missing if w not in near]
    return missing, used


def coverage_checks(cached: nlp.Facts, new: nlp.Facts, evidence: Evidence,
                    similar: Similar | None, threshold: float,
                    evidence_words: bool = True, relation: bool = True) -> list[Check]:
    """``focus``, ``relation`` and ``coverage`` of a new question against a cached one."""
    focus_ok = cached.answer_type == new.answer_type or (
        cached.answer_type in OPEN and new.answer_type in OPEN)
    ra, rb = cached.relations, new.relations
    relation_ok = not (ra - rb and rb - ra)
    extra = lemma_sets.lemmas_of(evidence.texts[:1]) if evidence_words and evidence.texts else \
        frozenset()
    new_missing, new_near = uncovered(new, cached, extra, similar, threshold)
    old_missing, old_near = uncovered(cached, new, frozenset(), similar, threshold)
    ok = not new_missing and not old_missing
    near = "; near words " + ", ".join(new_near + old_near) if new_near or old_near else ""
    detail = (f"every word accounted for{near}" if ok else
              f"not in the other question: new {new_missing}, cached {old_missing}{near}")
    out = [Check("focus", focus_ok, f"{new.answer_type} vs {cached.answer_type}")]
    if relation:
        out.append(Check("relation", relation_ok, f"{sorted(rb)} vs {sorted(ra)}"))
    return [*out, Check("coverage", ok, detail)]
