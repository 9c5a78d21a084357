"""``loose``: may the answer of a cached question be reused for a new one worded otherwise?
A canonical match (``semantic_canonical``), else a candidate of the same user, notes version
and filters at cosine >= the threshold that passes every rule, each recording what it saw
(``Decision.to_dict``). Two questions are *aligned* when their word sequences are alike (ratio
>= ``ALIGNED``), else *reworded*. The rules, one line each, and why each stays: the README
beside this file and ``docs/decisions.md``."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rag_core.decision_records import RuleCheck, SemanticRecord
from rag_core.decisions.semantic_canonical import Check, Form, canonical_check
from rag_core.text import nlp
from rag_core.text.sentences import split_sentences
from rag_core.types import Chunk, JsonObject

# The kinds of answer a question word (or "what" + noun) asks for; any other kind is open
TYPE_KINDS = frozenset({"count", "amount", "duration", "age", "person", "place", "time",
                        "reason", "yes_no"})
ALIGNED = 0.5  # word-sequence ratio from which two questions are aligned
SENTENCE_TOP = 2  # each best sentence among the other's this many best


@dataclass(frozen=True)
class Evidence:
    """The chunks a question retrieved, best first (texts only where known)."""

    chunk_ids: tuple[str, ...] = ()
    note_ids: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()

    @classmethod
    def of(cls, chunks: Sequence[Chunk], depth: int) -> Evidence:
        top = list(chunks)[:depth]
        return cls(tuple(c.chunk_id for c in top), tuple(c.note_id for c in top),
                   tuple(c.text for c in top))


@dataclass(frozen=True)
class Policy:
    """How a candidate is decided (``rag_core.cache.semantic.policy_for`` builds each mode's)."""

    threshold: float = 0.6
    # off | only (strict: the canonical forms equal, nothing else) | first (loose: a canonical
    # match is a reuse, else the rules decide)
    canonical: str = "off"
    evidence_depth: int = 5  # best chunks kept as a question's evidence
    vocabulary: frozenset[str] = field(default=frozenset(), repr=False, compare=False)


@dataclass(frozen=True)
class Decision:
    hit: bool
    reason: str  # "reuse" or the first rule that refused
    similarity: float
    matched_query: str
    checks: tuple[Check, ...] = field(default=())

    @classmethod
    def of(cls, checks: Sequence[Check], similarity: float, matched_query: str) -> Decision:
        """A hit when every check passed, else refused by the first that failed."""
        failed = [c.rule for c in checks if not c.passed]
        return cls(hit=not failed, reason=failed[0] if failed else "reuse",
                   similarity=float(similarity), matched_query=matched_query,
                   checks=tuple(checks))

    def record(self, candidates: int | None = None) -> SemanticRecord:
        """What an answer keeps of this decision (``candidates``: the cached questions that
        were close enough)."""
        return SemanticRecord(hit=self.hit, reason=self.reason,
                              similarity=round(self.similarity, 4),
                              matched_query=self.matched_query,
                              checks={c.rule: RuleCheck(c.passed, c.detail) for c in self.checks},
                              candidates=candidates)

    def to_dict(self) -> JsonObject:
        return self.record().to_dict()


# --- words of the evidence ------------------------------------------------------------------

_LEMMAS: dict[str, frozenset[str]] = {}
_LEMMAS_MAX = 8192


def lemmas_each(texts: Sequence[str]) -> list[frozenset[str]]:
    """Lower-case lemmas and forms of each text's words, memoised per text; the texts not seen
    before parsed in one batch (tagger and lemmatizer only)."""
    found = {t: v for t in texts if (v := _LEMMAS.get(t)) is not None}
    new = [t for t in dict.fromkeys(texts) if t not in found]
    for text, doc in zip(new, nlp.nlp().pipe(new, disable=["parser", "ner"], batch_size=64),
                         strict=True):
        found[text] = frozenset({w.lemma_.lower() for w in doc if w.is_alpha}
                                | {w.lower_ for w in doc if w.is_alpha})
    if len(_LEMMAS) + len(new) > _LEMMAS_MAX:
        _LEMMAS.clear()
    _LEMMAS.update(found)
    return [found[t] for t in texts]


def lemmas_of(texts: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*lemmas_each(list(texts)))


def fmt(a: object, b: object) -> str:
    return f"{sorted(a) if isinstance(a, frozenset) else a} vs " \
           f"{sorted(b) if isinstance(b, frozenset) else b}"


def misspelt(x: str, y: str) -> bool:
    """One name written for the other with a slip: both of five letters or more, the same
    first letter, word-sequence ratio >= 0.8."""
    return min(len(x), len(y)) >= 5 and x[0] == y[0] \
        and difflib.SequenceMatcher(None, x, y).ratio() >= 0.8


def word_variant(word: str, others: Sequence[str]) -> bool:
    """The other question has a form of ``word`` (pray / prayer, forgive / forgiveness)."""
    def related(x: str, y: str) -> bool:
        short, long_ = sorted((x, y), key=len)
        return len(short) >= 4 and (long_.startswith(short) or short[:6] == long_[:6]
                                    and len(short) >= 6)

    return any(o != word and related(word, o) for o in others)


# --- the rules ------------------------------------------------------------------------------


def _conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both sides say something the other does not (an addition on one side is no conflict)."""
    return bool(a - b) and bool(b - a)


def _unmatched(side: frozenset[str], other: frozenset[str]) -> list[str]:
    return sorted(x for x in side if not any(
        x == y or x.rstrip("s") == y.rstrip("s") or misspelt(x, y) for y in other))


def _named(name: str, words: frozenset[str]) -> bool:
    return name in words or name.rstrip("s") in words or name + "s" in words


def _kinds_agree(a: str, b: str, aligned: bool) -> bool:
    """The same kind; or, reworded, not yes/no and not two kinds of ``TYPE_KINDS``."""
    return a == b or not aligned and "yes_no" not in (a, b) and (
        a not in TYPE_KINDS or b not in TYPE_KINDS)


def value_checks(a: nlp.Facts, b: nlp.Facts, strict: bool) -> list[Check]:
    """Numbers and dates compared together ("seventy-seven" may be a number on one side and a
    date on the other): ``strict``, the same values, else no value on each side that the other
    lacks; a failure is reported as ``dates`` when only date values differ."""
    va = a.numbers | {nlp.quantities.quantity(d) for d in a.dates}
    vb = b.numbers | {nlp.quantities.quantity(d) for d in b.dates}
    only_a, only_b = va - vb, vb - va
    ok = not (only_a or only_b) if strict else not (only_a and only_b)
    dated = {nlp.quantities.quantity(d) for d in a.dates | b.dates}
    rule = "dates" if (only_a | only_b) and (only_a | only_b) <= dated else "numbers"
    other = "dates" if rule == "numbers" else "numbers"
    return [Check(rule, ok, fmt(va, vb)), Check(other, True, f"compared under {rule}")]


def fact_checks(a: nlp.Facts, b: nlp.Facts, aligned: bool, new: Evidence,
                cached: Evidence) -> list[Check]:
    """Every rule on the facts of the two questions (``a`` the cached one)."""
    names_a, names_b = _unmatched(a.names, b.names), _unmatched(b.names, a.names)
    swapped = bool(names_a and names_b)
    found = swapped and not aligned and all(_named(n, lemmas_of(new.texts)) for n in names_a) \
        and all(_named(n, lemmas_of(cached.texts)) for n in names_b)
    if aligned:
        negation = Check("negation", a.negations == b.negations, fmt(a.negations, b.negations))
    else:
        negated = sorted((a.negated - b.negated) & set(b.tokens)
                         | (b.negated - a.negated) & set(a.tokens))
        negation = Check("negation", not negated, f"negated on one side only: {negated}")
    kind = "aligned" if aligned else "reworded"
    return [
        Check("answer_type", _kinds_agree(a.answer_type, b.answer_type, aligned),
              f"{kind}: {fmt(a.answer_type, b.answer_type)}"),
        negation, *value_checks(a, b, strict=aligned),
        Check("scripture", not _conflict(a.scripture, b.scripture),
              fmt(a.scripture, b.scripture)),
        Check("sequence", not _conflict(a.sequence, b.sequence)
              and not _conflict(a.degree, b.degree),
              fmt(a.sequence | a.degree, b.sequence | b.degree)),
        Check("names", not swapped or found, f"{names_a} vs {names_b}"
              + (" (found in the other's evidence)" if found else "")),
    ]


def best_sentences(f: nlp.Facts, sentences: Sequence[str], top: int) -> list[int]:
    """Indexes of the ``top`` sentences sharing the most rare words with the question (a word
    weighs log((n + 1) / (0.5 + sentences holding it))), best first; none without a shared
    word."""
    words = lemmas_each(sentences)
    wanted = set(f.content) | set(f.names) | set(f.numbers)
    n = len(sentences)
    idf = {t: math.log((n + 1) / (0.5 + sum(t in w for w in words))) for t in wanted}
    scores = [sum(idf[t] for t in wanted if t in w) for w in words]
    order = sorted(range(n), key=lambda i: -scores[i])
    return [i for i in order[:top] if scores[i] > 0]


def sentence_check(a: nlp.Facts, b: nlp.Facts, new: Evidence, cached: Evidence) -> Check:
    """Each question's best sentence of the two best chunks among the other's best (the
    sentences split as the extractive generator splits them)."""
    texts = dict.fromkeys((*cached.texts[:1], *new.texts[:1]))
    sentences = list(dict.fromkeys(s.strip() for t in texts
                                   for s in split_sentences(t) if s.strip()))
    if not sentences:
        return Check("sentence", False, "no evidence sentences to compare")
    best_a = best_sentences(a, sentences, SENTENCE_TOP)
    best_b = best_sentences(b, sentences, SENTENCE_TOP)
    ok = bool(best_a and best_b) and best_a[0] in best_b and best_b[0] in best_a
    shown = [sentences[i][:60] for i in best_a[:1] + best_b[:1]]
    return Check("sentence", ok, f"best sentences {shown}")


def detail_check(a: nlp.Facts, b: nlp.Facts) -> Check:
    """Aligned questions: any content word replaced, added or dropped is a changed detail, so
    is a relation (a preposition, a subordinator) replaced by another (one added alone may
    restate the same: "for how long", "the mother of"), and a noun both name in another role
    (subject, object, the preposition before it)."""
    matcher = difflib.SequenceMatcher(None, a.tokens, b.tokens, autojunk=False)
    pairs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            pairs += [(w, "") for w in a.tokens[i1:i2] if w in a.content
                      and not word_variant(w, b.tokens) and w not in b.tokens]
            pairs += [("", w) for w in b.tokens[j1:j2] if w in b.content
                      and not word_variant(w, a.tokens) and w not in a.tokens]
    gone = [w for w in a.tokens if w in a.relations and w not in b.tokens]
    added = [w for w in b.tokens if w in b.relations and w not in a.tokens]
    pairs += list(zip(gone, added, strict=False))  # replaced: under / over (not one added)
    roles_b = dict(b.roles)  # a noun both name in another role: who did what to whom, from / to
    pairs += [(f"{w} ({r})", f"{w} ({roles_b[w]})") for w, r in a.roles
              if roles_b.get(w, r) != r]
    ratio = matcher.ratio()
    if not pairs:
        return Check("detail", True, f"aligned ({ratio:.2f}): no content word changed")
    shown = ", ".join(f"{x or '(none)'} -> {y or '(none)'}" for x, y in pairs[:3])
    return Check("detail", False, f"aligned ({ratio:.2f}): changed {shown}")


def decide(query: str, cached_query: str, similarity: float, policy: Policy,
           new: Evidence | None = None, cached: Evidence | None = None,
           cached_form: Form | None = None) -> Decision:
    """Every rule of ``policy`` on one candidate; a hit when all pass. ``cached_form``: the
    cached question's canonical form as stored with it (else it is parsed here)."""
    if policy.canonical != "off":
        check = canonical_check(query, cached_query, policy.vocabulary, cached_form)
        if check.passed or policy.canonical == "only":
            return Decision.of([check], similarity, cached_query)
    a, b = nlp.facts(cached_query), nlp.facts(query)
    new, cached = new or Evidence(), cached or Evidence()
    aligned = difflib.SequenceMatcher(None, a.tokens, b.tokens, autojunk=False).ratio() \
        >= ALIGNED
    checks = [Check("similarity", similarity >= policy.threshold,
                    f"{similarity:.3f} vs threshold {policy.threshold:.3f}"),
              *fact_checks(a, b, aligned, new, cached)]
    checks.append(detail_check(a, b) if aligned else sentence_check(a, b, new, cached))
    return Decision.of(checks, similarity, cached_query)
