"""``strict``: two questions are one when their canonical forms are equal: every word in its
order, with case, punctuation, the articles and inflection normalised and one keyboard slip
forgiven (the rule: the README beside this file; ``is_slip``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag_core.text import nlp


@dataclass(frozen=True)
class Check:
    """One rule's verdict on a candidate, and what it saw."""

    rule: str
    passed: bool
    detail: str = ""


ARTICLES = frozenset({"a", "an", "the"})
DEGREE_TAGS = frozenset({"JJR", "JJS", "RBR", "RBS"})  # comparative, superlative: kept as written
MIN_SLIP_LENGTH = 4
Form = Sequence[Sequence[str]]  # a canonical form: (lemma, word as written) of each word
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, frozenset[str]] = {}
for _r, _row in enumerate(_ROWS):
    for _c, _key in enumerate(_row):
        _NEIGHBOURS[_key] = frozenset(
            other for dr in (-1, 0, 1) if 0 <= _r + dr < len(_ROWS)
            for dc in (-1, 0, 1) if 0 <= _c + dc < len(_ROWS[_r + dr])
            and (other := _ROWS[_r + dr][_c + dc]) != _key)


@lru_cache(maxsize=4096)
def canonical(text: str) -> tuple[tuple[str, str], ...]:
    """The canonical form of ``text``: (lemma, word as written) of each word, case-folded
    before tagging (case never changes the tags), without punctuation or articles, in
    order."""
    doc = nlp.nlp()(text.casefold(), disable=["parser", "ner"])
    out = []
    for token in doc:
        if token.is_punct or token.is_space or token.lower_ in ARTICLES:
            continue
        lemma = token.lower_ if token.tag_ in DEGREE_TAGS else token.lemma_.casefold()
        out.append((lemma.strip("'") or lemma, token.lower_))
    return tuple(out)


def same_question(a: Form, b: Form, vocabulary: frozenset[str]) -> bool:
    """Equal canonical forms, or forms equal but for one keyboard slip in one word (of the
    words as written: a misspelt word has no lemma of its own)."""
    if len(a) != len(b):
        return False
    differ = [(x, y) for x, y in zip(a, b, strict=True) if x[0] != y[0]]
    if not differ:
        return True
    return len(differ) == 1 and is_slip(differ[0][0][1], differ[0][1][1], vocabulary)


def is_slip(x: str, y: str, vocabulary: frozenset[str]) -> bool:
    """``x`` and ``y`` are one word mistyped once: a letter dropped, added or replaced by a
    neighbouring key, or two neighbours exchanged, in a word of ``MIN_SLIP_LENGTH`` letters
    or more, when one spelling is not a whole word of ``vocabulary`` ("form" / "from" are
    two words; without a vocabulary no slip is forgiven); digits never slip."""
    if min(len(x), len(y)) < MIN_SLIP_LENGTH or not (x.isalpha() and y.isalpha()):
        return False
    if not vocabulary or x in vocabulary and y in vocabulary:
        return False
    if len(x) == len(y):
        diff = [i for i in range(len(x)) if x[i] != y[i]]
        if len(diff) == 1:
            return y[diff[0]] in _NEIGHBOURS.get(x[diff[0]], frozenset())
        return (len(diff) == 2 and diff[1] == diff[0] + 1
                and x[diff[0]] == y[diff[1]] and x[diff[1]] == y[diff[0]])
    short, long = sorted((x, y), key=len)
    if len(long) - len(short) != 1:
        return False
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def canonical_check(query: str, cached_query: str, words: frozenset[str],
                    cached_form: Form | None = None) -> Check:
    """The ``canonical`` rule of a semantic decision: passes when the two questions are one
    (``cached_form``: the cached question's form as stored with it, else it is parsed)."""
    a, b = canonical(query), cached_form if cached_form is not None else canonical(cached_query)
    if same_question(a, b, words):
        return Check("canonical", True, "the same words in the same order" if a == b else
                     "the same words in the same order, one of them mistyped")
    return Check("canonical", False,
                 f"{' '.join(w for w, _ in a)!r} is not {' '.join(w for w, _ in b)!r}")
