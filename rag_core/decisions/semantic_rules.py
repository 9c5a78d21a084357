"""When may the answer of a cached question be reused for a new one? A decision with reasons.

A candidate is a cached question of the same user and notes version whose embedding is close to
the new question's. It is reused only when every rule passes; each rule records what it saw, so
that a reuse (or a refusal) can be explained afterwards (``Decision.to_dict``, shown in the
answer's ``cache_decision`` and in the eval tables):

``similarity``   cosine of the two question embeddings >= the calibrated threshold, or (when
                 the policy has one; off by default) in the corroborated band below it where
                 the evidence must say more: the same best chunk, the same best sentence, and
                 no ``grounded`` difference (each side naming a noun of the best chunk that the
                 other lacks; ``rag_core.decisions.semantic_evidence``);
``answer_type``  the same kind of answer. Two questions worded alike (``aligned``: most of their
                 words in the same order) must ask with the same kind (who / when / where /
                 how many ...); reworded ones with a compatible kind ("how many years" and "how
                 long" are both a quantity, "how old" and "at what age" too; a bare "what" or
                 "which X" goes with any kind but yes/no);
``negation``     aligned: as many negations on both sides; reworded: no word negated on one side
                 and asserted on the other;
``numbers``      numbers, number words and dates: aligned, the same values; reworded, no value
                 on one side that conflicts with one on the other (an addition is no conflict);
``dates``        no date on one side that conflicts with a date on the other;
``scripture``    no reference (book, chapter, verse) on one side that the other contradicts;
``sequence``     the same order words (first, last, next ...) and comparatives / superlatives;
``names``        no proper name on one side replaced by another on the other side, unless
                 (reworded) each such name is found in the other question's evidence (a
                 grandmother named in the speaker's note);
``roles``        no doer of one question (a main-clause subject) named by the other only in
                 another role while someone else acts there: the same people, the roles
                 exchanged (``rag_core.decisions.semantic_roles``);
``evidence``     both questions retrieve the same evidence (best chunk or best note, by policy);
``sentence``     reworded: each question's best sentence of its best chunk is among the other's
                 ``sentence_top`` best (by default for every reworded pair, not only when the
                 kinds of answer differ: golden/README.md, third round);
``detail``       aligned: no content word changed, added or dropped; reworded: no content word
                 swapped for another one where the notes contain both;
``canonical``    the same words in the same order (``semantic_canonical``): strict's only rule,
                 loose's first (a match is a reuse, else the rules above decide).

Facts: ``rag_core.decisions.nlp`` (spaCy, pythonbible); evidence: the pipeline's retrieval.
Thresholds: the golden dev pairs (``evals/cache/semantic_eval.py``, the gate reasons).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rag_core.decisions import lemma_sets, nlp
from rag_core.decisions.semantic_canonical import Form, canonical_check
from rag_core.decisions.semantic_evidence import (
    Check,
    Evidence,
    Similar,
    evidence_check,
    grounded_check,
    misspelt,
    sentence_check,
)
from rag_core.decisions.semantic_evidence import word_variant as _variant
from rag_core.decisions.semantic_roles import role_check
from rag_core.decisions.semantic_values import fmt as _fmt
from rag_core.decisions.semantic_values import grounded_values, value_checks

RULES = ("similarity", "answer_type", "negation", "numbers", "dates", "scripture", "sequence",
         "names", "roles", "evidence", "sentence", "grounded", "detail", "focus", "relation",
         "coverage", "canonical")
OPEN_TYPES = frozenset({"thing", "manner", "description"})
NEAR_IDENTICAL = 0.8  # word-sequence ratio above which one added content word is a change
# The kinds of answer a question word (or "what" + noun) asks for; any other kind is open
TYPE_KINDS = frozenset({"count", "amount", "duration", "age", "person", "place", "time",
                        "reason", "yes_no"})


# (cached facts, new facts, cached evidence, new evidence, near words, policy) -> checks
ExtraRules = Callable[[nlp.Facts, nlp.Facts, Evidence, Evidence, Similar | None, "Policy"],
                      list[Check]]

@dataclass(frozen=True)
class Policy:
    """Which rules run, and their parameters (``Settings.semantic_*`` give the defaults)."""

    threshold: float = 0.6
    facts: bool = True
    # off | chunk (same best chunk) | note (best chunks from the same note) | overlap (each
    # best chunk among the other's two best) | adaptive (chunk when the wording differs too
    # much for the detail rule, note otherwise)
    evidence: str = "note"
    detail: bool = True
    detail_min_ratio: float = 0.5  # how alike the two questions' word sequences must be
    evidence_depth: int = 5  # chunks whose words the detail rule looks in
    strict_nouns: bool = True  # a noun swapped for another noun is a change, in the notes or not
    # "aligned": questions worded alike are compared slot by slot, reworded ones by conflicts
    # (see the module doc); "equal": every question compared as the aligned ones were before
    slots: str = "aligned"
    aligned_ratio: float = 0.5  # word-sequence ratio from which two questions are aligned
    grounded_names: bool = True  # reworded: a name found in the other's evidence is no swap
    sentences: bool = True  # reworded: the same best sentence of the evidence (sentence_check)
    sentences_always: bool = True  # False: only when the kinds of answer differ (open / typed)
    sentence_depth: int = 1  # best chunks of each side whose sentences are ranked
    sentence_top: int = 2  # each best sentence among the other's this many best
    # floor of the corroborated band [corroborated, threshold); >= threshold: no band
    corroborated: float = 1.0  # off: measured, not chosen (evals/cache/semantic_eval.py)
    grounded: bool = True  # in the band: no noun of the evidence on one side only (both sides)
    # off | acting (no doer of one question named in another role by the other while someone
    # else acts there) | exchanged (... someone the first question names) | any | both
    # (variants measured; rag_core.decisions.semantic_roles)
    roles: str = "acting"
    # rules from outside (evals.cache.coverage_rules, with the 3 parameters after it; no mode)
    extra: ExtraRules | None = field(default=None, compare=False)
    word_similarity: float = 0.8
    evidence_words: bool = True
    relation: bool = True
    # words, numbers, dates on one side only are context when the other question's evidence
    # holds them (``extra``, grounded_values); order words then the same on both sides
    additions: bool = False
    # off | only (strict: the canonical forms equal, nothing else) | first (a canonical match
    # is a reuse, else the rules above decide); rag_core.decisions.semantic_canonical
    canonical: str = "off"
    vocabulary: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @property
    def floor(self) -> float:
        """The lowest cosine at which a candidate is decided at all."""
        return min(self.threshold, self.corroborated)

    def in_band(self, similarity: float) -> bool:
        return self.corroborated <= similarity < self.threshold

    def rules(self) -> tuple[str, ...]:
        on = {"similarity"}
        if self.facts:
            on |= set(RULES[1:8])
            if self.roles != "off":
                on.add("roles")
        if self.evidence != "off":
            on.add("evidence")
        if self.detail:
            on.add("detail")
        if self.sentences and self.slots == "aligned":
            on.add("sentence")
        if self.extra is not None:
            on |= {"focus", "relation", "coverage"}
        if self.canonical != "off":
            on = {"canonical"} if self.canonical == "only" else on | {"canonical"}
        return tuple(r for r in RULES if r in on)


@dataclass(frozen=True)
class Decision:
    hit: bool
    reason: str  # "reuse" or the first rule that refused
    similarity: float
    matched_query: str
    checks: tuple[Check, ...] = field(default=())

    def failed(self) -> list[str]:
        return [c.rule for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"hit": self.hit, "reason": self.reason, "similarity": round(self.similarity, 4),
                "matched_query": self.matched_query,
                "checks": {c.rule: {"passed": c.passed, "detail": c.detail}
                           for c in self.checks}}


# --- the rules ------------------------------------------------------------------------------


def _answer_types_agree(a: str, b: str) -> bool:
    if a == b:
        return True
    if "yes_no" in (a, b):
        return False  # yes or no against anything else
    if "typed" in (a, b):
        return True
    return a in OPEN_TYPES and b in OPEN_TYPES


def _same_name(x: str, y: str) -> bool:
    """One name, spelt with or without a plural/possessive s (Quinlan, Quinlans), or with a
    slip of the keyboard (``semantic_evidence.misspelt``)."""
    return x == y or x.rstrip("s") == y.rstrip("s") or misspelt(x, y)


def _unmatched(side: frozenset[str], other: frozenset[str]) -> list[str]:
    return sorted(x for x in side if not any(_same_name(x, y) for y in other))


def _conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both sides say something the other does not (an addition on one side is no conflict)."""
    return bool(a - b) and bool(b - a)


def fact_checks(a: nlp.Facts, b: nlp.Facts) -> list[Check]:
    """The slots compared for equality (the ``equal`` policy, and aligned questions)."""
    names_a, names_b = _unmatched(a.names, b.names), _unmatched(b.names, a.names)
    return [
        Check("answer_type", _answer_types_agree(a.answer_type, b.answer_type),
              _fmt(a.answer_type, b.answer_type)),
        Check("negation", a.negations == b.negations, _fmt(a.negations, b.negations)),
        Check("numbers", a.numbers == b.numbers, _fmt(a.numbers, b.numbers)),
        Check("dates", a.dates == b.dates, _fmt(a.dates, b.dates)),
        Check("scripture", not _conflict(a.scripture, b.scripture),
              _fmt(a.scripture, b.scripture)),
        Check("sequence", not _conflict(a.sequence, b.sequence)
              and not _conflict(a.degree, b.degree),
              _fmt(a.sequence | a.degree, b.sequence | b.degree)),
        Check("names", not (names_a and names_b), f"{names_a} vs {names_b}"),
    ]


def _kinds_compatible(a: str, b: str) -> bool:
    """Reworded questions: the same kind of answer, or an open question ("what ...", "tell me
    about", "how did", "which X" of no known kind) against any kind but yes/no."""
    if a == b:
        return True
    if "yes_no" in (a, b):
        return False
    return a not in TYPE_KINDS or b not in TYPE_KINDS


def _negation_conflict(a: nlp.Facts, b: nlp.Facts) -> list[str]:
    """Words negated on one side and said without negation on the other."""
    return sorted((a.negated - b.negated) & set(b.tokens) | (b.negated - a.negated)
                  & set(a.tokens))


def _in_evidence(name: str, evidence: Evidence) -> bool:
    return nlp_named(name, lemma_sets.lemmas_of(evidence.texts))


def nlp_named(name: str, words: set[str] | frozenset[str]) -> bool:
    return name in words or name.rstrip("s") in words or name + "s" in words


def reworded_checks(a: nlp.Facts, b: nlp.Facts, new: Evidence, cached: Evidence,
                    grounded_names: bool = True, equal: bool = False) -> list[Check]:
    """The slots of two questions worded differently: compatible kinds, no conflict."""
    names_a, names_b = _unmatched(a.names, b.names), _unmatched(b.names, a.names)
    swapped = bool(names_a and names_b)
    if swapped and grounded_names:  # each side's names in the other side's evidence
        swapped = not (all(_in_evidence(n, new) for n in names_a)
                       and all(_in_evidence(n, cached) for n in names_b))
    negated = _negation_conflict(a, b)
    return [
        Check("answer_type", _kinds_compatible(a.answer_type, b.answer_type),
              f"reworded: {_fmt(a.answer_type, b.answer_type)}"),
        Check("negation", not negated, f"reworded: negated on one side only: {negated}"),
        *(grounded_values(a, b, new, cached) if equal else value_checks(a, b, strict=False)),
        Check("scripture", not _conflict(a.scripture, b.scripture),
              _fmt(a.scripture, b.scripture)),
        Check("sequence", (a.sequence, a.degree) == (b.sequence, b.degree) if equal else
              not _conflict(a.sequence, b.sequence) and not _conflict(a.degree, b.degree),
              _fmt(a.sequence | a.degree, b.sequence | b.degree)),
        Check("names", not swapped, f"{names_a} vs {names_b}"
              + (" (found in the other's evidence)" if (names_a and names_b and not swapped)
                 else "")),
    ]


def aligned_checks(a: nlp.Facts, b: nlp.Facts, equal: bool = False,
                   new: Evidence | None = None, cached: Evidence | None = None) -> list[Check]:
    """Two questions worded alike: every slot the same (the words that differ are the point;
    ``equal``: the order words too, an addition included, and values added on one side only
    when the other's evidence holds them)."""
    values = {c.rule: c for c in (grounded_values(a, b, new or Evidence(), cached or Evidence())
                                  if equal else value_checks(a, b, strict=True))}
    if equal:
        values["sequence"] = Check("sequence", (a.sequence, a.degree) == (b.sequence, b.degree),
                                   _fmt(a.sequence | a.degree, b.sequence | b.degree))
    out = []
    for c in fact_checks(a, b):
        if c.rule == "answer_type":
            c = Check("answer_type", a.answer_type == b.answer_type,
                      f"aligned: {_fmt(a.answer_type, b.answer_type)}")
        out.append(values.get(c.rule, c))
    return out


def swapped_words(a: nlp.Facts, b: nlp.Facts, near: float = NEAR_IDENTICAL
                  ) -> tuple[float, list[tuple[str, str]]]:
    """How alike the word sequences are, and the content words replaced one for another (and,
    from a ratio of ``near``, added or dropped)."""
    matcher = difflib.SequenceMatcher(None, a.tokens, b.tokens, autojunk=False)
    content_a, content_b = set(a.content), set(b.content)
    pairs = []
    near_identical = matcher.ratio() >= near
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        left = [w for w in a.tokens[i1:i2] if w in content_a]
        right = [w for w in b.tokens[j1:j2] if w in content_b]
        if op == "replace":
            pairs += [(x, y) for x in left for y in right
                      if not _variant(x, b.tokens) and not _variant(y, a.tokens)]
        elif near_identical and op in ("insert", "delete"):
            # one word added to an otherwise identical question ("refuse to go" / "go")
            pairs += [(x, "") for x in left] + [("", y) for y in right]
    return matcher.ratio(), pairs


def detail_check(a: nlp.Facts, b: nlp.Facts, new: Evidence, cached: Evidence,
                 min_ratio: float, strict_nouns: bool = True) -> Check:
    ratio, pairs = swapped_words(a, b)
    if ratio < min_ratio or not pairs:
        return Check("detail", True, f"word overlap {ratio:.2f}, no aligned swap")
    words = set(lemma_sets.lemmas_of((*new.texts, *cached.texts)))
    nouns = set(a.nouns) | set(b.nouns)
    if a.answer_type == b.answer_type == "yes_no":
        grounded = pairs  # a yes/no question asks about exactly its words
    else:  # a word added to a near-identical question, a noun for another noun, or both sides
        # of a swap in the notes
        grounded = [(x, y) for x, y in pairs if not x or not y or (x in words and y in words)
                    or (strict_nouns and x in nouns and y in nouns)]
    if grounded:
        shown = ", ".join(f"{x or '(none)'} -> {y or '(none)'}" for x, y in grounded[:3])
        return Check("detail", False, f"changed detail: {shown}")
    return Check("detail", True, f"word overlap {ratio:.2f}, swaps not both in the notes")


def changed_words(a: nlp.Facts, b: nlp.Facts) -> tuple[float, list[tuple[str, str]]]:
    """Every content word replaced, added or dropped (forms of one word aside)."""
    matcher = difflib.SequenceMatcher(None, a.tokens, b.tokens, autojunk=False)
    content_a, content_b = set(a.content), set(b.content)
    pairs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        left = [w for w in a.tokens[i1:i2] if w in content_a and not _variant(w, b.tokens)
                and w not in b.tokens]
        right = [w for w in b.tokens[j1:j2] if w in content_b and not _variant(w, a.tokens)
                 and w not in a.tokens]
        pairs += [(x, "") for x in left] + [("", y) for y in right]
    return matcher.ratio(), pairs


def changed_words_check(a: nlp.Facts, b: nlp.Facts) -> Check:
    """Aligned questions: any content word replaced, added or dropped is a changed detail."""
    ratio, pairs = changed_words(a, b)
    if not pairs:
        return Check("detail", True, f"aligned ({ratio:.2f}): no content word changed")
    shown = ", ".join(f"{x or '(none)'} -> {y or '(none)'}" for x, y in pairs[:3])
    return Check("detail", False, f"aligned ({ratio:.2f}): changed {shown}")


def decide(query: str, cached_query: str, similarity: float, policy: Policy,
           new: Evidence | None = None, cached: Evidence | None = None,
           cached_facts: nlp.Facts | None = None, similar: Similar | None = None,
           cached_form: Form | None = None) -> Decision:
    """Every rule of ``policy`` on one candidate; a hit when all pass. ``cached_facts`` and
    ``cached_form``: the cached question's facts and canonical form as stored with it (else
    it is parsed here); ``similar``: near
    words from the embedder's word vectors (``WordMatcher.closest``) for the coverage rule."""
    if policy.canonical != "off":
        check = canonical_check(query, cached_query, policy.vocabulary, cached_form)
        if check.passed or policy.canonical == "only":
            return Decision(hit=check.passed, reason="reuse" if check.passed else check.rule,
                            similarity=float(similarity), matched_query=cached_query,
                            checks=(check,))
    band = policy.in_band(similarity)
    checks = [Check("similarity", similarity >= policy.threshold or band,
                    f"{similarity:.3f} vs threshold {policy.threshold:.3f}" + (
                        f" (corroborated band from {policy.corroborated:.3f})" if band else ""))]
    rules = policy.rules()
    known = cached_facts is not None and cached_facts.text == cached_query
    a = cached_facts if cached_facts is not None and known else nlp.facts(cached_query)
    b = nlp.facts(query)
    new, cached = new or Evidence(), cached or Evidence()
    ratio = difflib.SequenceMatcher(None, a.tokens, b.tokens, autojunk=False).ratio()
    aligned = policy.slots == "aligned" and ratio >= policy.aligned_ratio
    if policy.facts:
        if policy.slots == "aligned":
            checks += aligned_checks(a, b, policy.additions, new, cached) if aligned else \
                reworded_checks(a, b, new, cached, policy.grounded_names, policy.additions)
        else:
            checks += fact_checks(a, b)
    if "roles" in rules:
        checks.append(role_check(a, b, policy.roles))
    if "evidence" in rules or band:
        mode = "chunk" if band else policy.evidence
        if mode == "adaptive":  # reworded beyond the swap analysis: the same best chunk
            mode = "note" if ratio >= policy.detail_min_ratio else "chunk"
        checks.append(evidence_check(mode, new, cached))
    if ("sentence" in rules or band) and not aligned and (
            band or policy.sentences_always or a.answer_type != b.answer_type):
        checks.append(sentence_check(a, b, new, cached, policy.sentence_depth,
                                     policy.sentence_top))
    if band and policy.grounded:
        checks.append(grounded_check(a, b, new, cached, policy.sentence_depth))
    if "detail" in rules:
        checks.append(changed_words_check(a, b) if aligned else
                      detail_check(a, b, new, cached, policy.detail_min_ratio,
                                   policy.strict_nouns))
    if policy.extra is not None:
        checks += policy.extra(a, b, cached, new, similar, policy)
    failed = [c.rule for c in checks if not c.passed]
    return Decision(hit=not failed, reason=failed[0] if failed else "reuse",
                    similarity=float(similarity), matched_query=cached_query,
                    checks=tuple(checks))
