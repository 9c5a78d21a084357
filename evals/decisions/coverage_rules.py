"""The word-by-word rules of the strict mode before the canonical form (design (a) of
``evals.decisions.designs``, no mode of the service): the same focus, and every word accounted for.

Nearness of two embeddings says little about whether two questions have one answer (near misses
of a labelled set reach cosine 0.99). A reuse under these rules must be justified word by word
instead:

``focus``     the same kind of answer asked for (``nlp.Facts.answer_type``: who / when / where
              / how many / what + its noun ...): "who" and "what" about one event differ;
``relation``  no preposition or subordinator on one side replaced by another on the other
              ("left from" / "went to", "before" / "after"); one added on one side is none;
``coverage``  every content word and name of each question is found in the other: the same lemma, a
              form of it (pray / prayer), a misspelling of it (one edit in a word of five letters or
              more, or one keystroke, ``slip``, in a word of four or more), or a word the embedder's
              own word vectors put at cosine ``word_similarity`` or more, unless the two words fill
              the same slot of two questions worded alike (``slot_swaps``: "a yellow peg" / "a red
              peg", near at 0.68, is the near miss's very pattern). The words that name the kind of
              answer ("what *year*", "how *long*") are left to ``focus`` when the kinds agree. With
              ``new_evidence`` (the strict mode's additions), words that only one side has are
              context when the other question's evidence holds them (the new question's in the
              cached answer's best chunk, the donor's in the new question's): "at the harbour"
              added. Never when both sides lack words of the other (a swap), nor for what either
              question asks about (``Parts.about``) or who does it (a subject of its main clause,
              ``Parts.main_subjects``; the subject of a clause that only sets the scene, "after
              its engine failed", may be context): a donor that asked
              for more than the new question did is not reused ("Who was Aunt M.?" after "Who ate at
              Aunt M.'s extra plate?").

Synonyms come only from the embedder's word vectors (``evals.decisions.word_match``), never
from a list. ``strict_before_rules`` adds what else that design had: values, dates and order
words added on one side are context when the other's evidence holds them (``added_values``),
and the ``roles`` rule with parties exchanged (``question_roles``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from evals.decisions.question_roles import parts, role_check
from evals.decisions.rule_sets import Similar
from rag_core.decisions import semantic_rules as rules
from rag_core.decisions.semantic_rules import (
    Check,
    Evidence,
    fmt,
    lemmas_of,
    misspelt,
    word_variant,
)
from rag_core.text import nlp

# kinds of answer that name no particular kind ("what ...", "what + a noun of no known kind")
OPEN = frozenset({"thing", "typed", "description"})


def words_of(f: nlp.Facts, focused: bool = False) -> list[str]:
    """The content lemmas and names of a question, in order, once each (``focused``: without
    the words that name the kind of answer, ``Parts.asked``, which the focus compares; and
    without one-letter pieces of a contraction, "what's" written "whats")."""
    words = list(dict.fromkeys([*f.content, *sorted(f.names)]))
    if focused:
        words = [w for w in words if w not in parts(f.text).asked and len(w) > 1]
    return words


def slip(x: str, y: str) -> bool:
    """One word written for the other with one slip of the keyboard: the same first letter,
    the longer word of four letters or more, and one letter added, dropped, replaced, or two
    neighbours swapped (Damerau-Levenshtein distance 1)."""
    if x == y or x[:1] != y[:1] or max(len(x), len(y)) < 4 or abs(len(x) - len(y)) > 1:
        return False
    if len(x) == len(y):
        diff = [i for i in range(len(x)) if x[i] != y[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and x[diff[0]] == y[diff[1]] and x[diff[1]] == y[diff[0]])
    short, long_ = sorted((x, y), key=len)
    i = next((k for k in range(len(short)) if short[k] != long_[k]), len(short))
    return short[i:] == long_[i + 1:]


def _found(word: str, tokens: Sequence[str]) -> bool:
    return word in tokens or word_variant(word, tokens) or any(
        misspelt(word, t) or slip(word, t) for t in tokens)


def slot_swaps(a: nlp.Facts, b: nlp.Facts) -> frozenset[frozenset[str]]:
    """The content words that replace each other one for one in the same place of two
    questions' word sequences ("a *yellow* peg" / "a *red* peg")."""
    matcher = difflib.SequenceMatcher(None, a.tokens, b.tokens, autojunk=False)
    content_a, content_b = set(a.content), set(b.content)
    out = set()
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        left = [w for w in a.tokens[i1:i2] if w in content_a]
        right = [w for w in b.tokens[j1:j2] if w in content_b]
        if op == "replace" and len(left) == len(right) == 1:
            out.add(frozenset((left[0], right[0])))
    return frozenset(out)


def uncovered(side: nlp.Facts, other: nlp.Facts, extra: frozenset[str],
              similar: Similar | None, threshold: float,
              focused: bool = False) -> tuple[list[str], list[str]]:
    """The words of ``side`` that ``other`` (or ``extra``, words of the evidence, for words
    other than names: who is asked about must be asked again) lacks, and the near-word
    matches used (``word~match cosine``), never the other word of a slot swap. ``focused``
    (the kinds of answer agree): the words naming the kind of answer are left to the focus
    rule."""
    tokens = list(other.tokens)
    missing = [w for w in words_of(side, focused) if not _found(w, tokens)
               and (w in side.names or w not in extra)]
    used: list[str] = []
    candidates = words_of(other)
    if missing and similar is not None and candidates:
        swaps = slot_swaps(side, other)
        near = {w: m for w, m in similar(missing, candidates).items()
                if m[0] >= threshold and frozenset((w, m[1])) not in swaps}
        used = [f"{w}~{m} {s:.2f}" for w, (s, m) in near.items()]
        missing = [w for w in missing if w not in near]
    return missing, used


def extra_of(evidence: Evidence) -> frozenset[str]:
    """The lemmas of the best chunk of ``evidence``."""
    return lemmas_of(evidence.texts[:1]) if evidence.texts else frozenset()


def coverage_checks(cached: nlp.Facts, new: nlp.Facts, evidence: Evidence,
                    similar: Similar | None, threshold: float,
                    evidence_words: bool = True, relation: bool = True,
                    new_evidence: Evidence | None = None) -> list[Check]:
    """``focus``, ``relation`` and ``coverage`` of a new question against a cached one."""
    focus_ok = cached.answer_type == new.answer_type or (
        cached.answer_type in OPEN and new.answer_type in OPEN)
    ra, rb = parts(cached.text).relations, parts(new.text).relations
    relation_ok = not (ra - rb and rb - ra)
    extra = lemmas_of(evidence.texts[:1]) if evidence_words and evidence.texts else \
        frozenset()
    new_missing, new_near = uncovered(new, cached, extra, similar, threshold, focus_ok)
    old_missing, old_near = uncovered(cached, new, frozenset(), similar, threshold, focus_ok)
    added: list[str] = []
    if new_evidence is not None and bool(new_missing) != bool(old_missing):
        # one question adds words the other lacks (context, a detail): an addition, no swap;
        # accounted for when the other question's evidence holds them and neither what a
        # question asks about nor who does it (a subject of the main clause) is among them
        pn, pc = parts(new.text), parts(cached.text)
        heads = {pn.about, pc.about} - {""} | {
            p.split()[-1] for p in pn.main_subjects | pc.main_subjects}
        side = new_missing or old_missing
        if not heads & set(side):
            words = extra_of(evidence if new_missing else new_evidence)
            names = new.names if new_missing else frozenset()
            added = [w for w in side if w in words and w not in names]
            new_missing = [w for w in new_missing if w not in added]
            old_missing = [w for w in old_missing if w not in added]
    ok = not new_missing and not old_missing
    near = "; near words " + ", ".join(new_near + old_near) if new_near or old_near else ""
    if added:
        near += f"; added on one side, in the other's evidence: {added}"
    detail = (f"every word accounted for{near}" if ok else
              f"not in the other question: new {new_missing}, cached {old_missing}{near}")
    out = [Check("focus", focus_ok, f"{new.answer_type} vs {cached.answer_type}")]
    if relation:
        out.append(Check("relation", relation_ok, f"{sorted(rb)} vs {sorted(ra)}"))
    return [*out, Check("coverage", ok, detail)]


def _values(f: nlp.Facts) -> frozenset[str]:
    return f.numbers | {nlp.quantities.quantity(d) for d in f.dates}


def _in_text(value: str, evidence: Evidence) -> bool:
    """A number or date word written in the best chunk of ``evidence`` (as a word)."""
    text = " ".join(evidence.texts[:1]).lower().replace(",", "")
    return bool(text) and re.search(rf"(?<![\w.]){re.escape(value)}(?![\w])", text) is not None


def added_values(a: nlp.Facts, b: nlp.Facts, new: Evidence, cached: Evidence) -> list[Check]:
    """Numbers and dates: the same values, or values added on one side only that the other
    question's evidence holds, as written ("in 1996" added to a question whose cached answer
    came from the 1996 story); order words and comparatives the same. ``a``: the cached one."""
    va, vb = _values(a), _values(b)
    only_a, only_b = sorted(va - vb), sorted(vb - va)
    ok = not (only_a and only_b) and all(_in_text(v, new) for v in only_a) \
        and all(_in_text(v, cached) for v in only_b)
    dated = {nlp.quantities.quantity(d) for d in a.dates | b.dates}
    rule = "dates" if (set(only_a) | set(only_b)) <= dated and (only_a or only_b) else "numbers"
    other = "dates" if rule == "numbers" else "numbers"
    extra = " (added on one side, in the other's evidence)" if ok and (only_a or only_b) else ""
    return [Check(rule, ok, fmt(va, vb) + extra), Check(other, True, f"compared under {rule}"),
            Check("sequence", (a.sequence, a.degree) == (b.sequence, b.degree),
                  fmt(a.sequence | a.degree, b.sequence | b.degree))]


def strict_before_rules(cached: nlp.Facts, new: nlp.Facts, evidence: Evidence,
                        new_evidence: Evidence, similar: Similar | None,
                        policy: rules.Policy) -> list[Check]:
    """The extra rules of the strict-before design (``designs.rules_policy``): each replaces
    loose's rule of its name, or is added."""
    return [*added_values(cached, new, new_evidence, evidence),
            role_check(parts(cached.text), parts(new.text), "exchanged"),
            *coverage_checks(cached, new, evidence, similar, 0.6, evidence_words=False,
                             relation=False, new_evidence=new_evidence)]
