"""The numbers a text names, as values: the ``numbers`` rule of the no-context decision.

"Which sermon covered the feeding of the five thousand?" names a number as a fact about what
it asks for, as it names a person; notes that never say five thousand (or 5,000) do not hold
that story, however close their loaves and crowds (``note_facts`` compares the values).
``values`` reads numbers written in digits ("120,000", "$1,250", "40%") or in words, however
many words ("five thousand", "twenty-seven", "three hundred and ten"), as one value each.
``question_values`` leaves out what other rules judge or what names no quantity: scripture
references and years (``note_facts``), other dates, times of day, "one" ("no one", "one of
them"), and a number given as roughly so ("almost eighty", "about 300": the notes may say
seventy-nine).
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag_core.decisions import nlp

_UNITS = {w: i for i, w in enumerate(
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
     "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
     "eighteen", "nineteen"))}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?|[A-Za-z]+")
_YEAR = re.compile(r"^(1[5-9]|20)\d\d$")
# Nouns that a number counts when it shapes the answer asked for ("in two sentences", "three
# points"), not a fact the notes must give.
ANSWER_SHAPE = frozenset({"sentence", "word", "line", "paragraph", "point", "bullet"})
# A word of letters and digits together ("a1b2c3", "mp3", "5th") names a code or a rank, not
# a quantity: it is left out whole rather than read as the digits in it.
_MIXED = re.compile(r"\b\w*(?:[A-Za-z]\d|\d[A-Za-z])\w*\b")
# Words that make a number approximate (grammar, as spaCy attaches them: advmod or quantmod)
APPROXIMATE = frozenset({"almost", "nearly", "about", "around", "roughly", "approximately",
                         "some", "over", "under", "more", "less", "fewer", "least", "most",
                         "up", "close", "than", "maybe", "perhaps", "several"})


def _word_value(words: list[str]) -> float:
    total, part = 0, 0
    for w in words:
        if w in _UNITS:
            part += _UNITS[w]
        elif w in _TENS:
            part += _TENS[w]
        elif w == "hundred":
            part = max(part, 1) * 100
        else:  # thousand, million, billion
            total += max(part, 1) * _SCALES[w]
            part = 0
    return float(total + part)


def values(text: str) -> set[float]:
    """Every number of ``text`` as a value (a run of number words is one number)."""
    out: set[float] = set()
    run: list[str] = []
    tokens = _TOKEN.findall(_MIXED.sub(" ", text).replace("-", " "))
    scaled = -1  # the scale word after digits ("5 thousand"), read with them
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if i == scaled:
            continue
        numeric = low in _UNITS or low in _TENS or low in _SCALES
        joined = low == "and" and run and run[-1] in _SCALES and i + 1 < len(tokens) and (
            tokens[i + 1].lower() in _UNITS or tokens[i + 1].lower() in _TENS)
        if numeric:
            if low in _SCALES and not run and i > 0 and tokens[i - 1].lower() == "a":
                run.append("one")  # "a hundred"
            run.append(low)
            continue
        if joined:
            continue
        if run:
            out.add(_word_value(run))
            run = []
        if tok[0].isdigit():
            digits = tok.replace(",", "")
            try:
                value = float(digits)
            except ValueError:
                continue
            nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
            if nxt in _SCALES:
                value, scaled = value * _SCALES[nxt], i + 1  # "5 thousand"
            out.add(value)
    if run:
        out.add(_word_value(run))
    return out


@lru_cache(maxsize=1024)
def question_values(text: str) -> frozenset[float]:
    """The numbers a question names as facts: not in a scripture reference, a date or a time,
    not a year, not one, not the length of the answer asked for."""
    doc = nlp.nlp()(text)
    skip = nlp.reference_tokens(doc) | {
        t.i for t in doc if t.like_num and t.dep_ == "nummod" and t.head.lemma_.lower()
        in ANSWER_SHAPE} | {
        t.i for t in doc if t.like_num and any(
            c.lower_ in APPROXIMATE for c in (*t.children, *t.head.children)
            if c.dep_ in ("advmod", "quantmod", "amod") and c.i < t.i)}
    kept = " ".join(
        "." if (t.i in skip or t.ent_type_ in nlp.TIME_LABELS or t.ent_type_ == "ORDINAL"
                or _YEAR.match(t.text)) else t.text for t in doc)
    return frozenset(v for v in values(kept) if v != 1.0)
