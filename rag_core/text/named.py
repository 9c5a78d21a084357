"""The facts a question names: proper names, numbers, years, decades and months, scripture
passages (spaCy reads the question; ``rag_core.decisions.note_facts`` says whether the notes
hold them, and ``rag_core.answers.narrowing`` reads its year)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rag_core.text import nlp, quantities
from rag_core.text.dates import AMOUNTS, CLOCK, ISO, MONTH_YEAR, MONTHS, WORD, YEAR
from rag_core.text.plain import plain

# capitals mark names only where common words go without them: in a question whose longer
# words are all capitalised, or mostly with a common word among them (a title or keyword
# query), no capital is read as a name
_TITLE_SHARE = 0.6
# nor is a word in a run of words written wholly in capitals ("SYSTEM OVERRIDE"): emphasis
_SHOUTED = re.compile(r"\b[A-Z]{2,}(?:\W+[A-Z]{2,}\b)+")


@dataclass(frozen=True)
class Asked:
    """The facts a question names."""

    names: tuple[str, ...] = ()
    numbers: frozenset[float] = frozenset()
    years: frozenset[str] = frozenset()
    months: frozenset[int] = frozenset()
    passages: frozenset[tuple[str, int, int]] = frozenset()
    month_years: frozenset[tuple[str, int]] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.names or self.numbers or self.years or self.months or self.passages)


def _title_case(doc: Any) -> bool:
    words = [t for t in doc[1:] if t.is_alpha and len(t) > 3]
    capital = [t for t in words if t.text[0].isupper()]
    return bool(words) and (len(capital) == len(words) or (
        len(capital) / len(words) >= _TITLE_SHARE
        and any(t.pos_ not in ("PROPN", "NOUN") for t in capital)))


def _amount(token: Any) -> bool:
    """A number of a year's shape that is an amount ("1900 pounds"), not a year."""
    return token.ent_type_ in AMOUNTS or (
        token.dep_ == "nummod" and token.head.pos_ == "NOUN" and token.ent_type_ != "DATE")


@lru_cache(maxsize=1024)
def question_values(text: str) -> frozenset[float]:
    """The numbers a question names as facts (``quantities``): not in a scripture reference, a
    date or a time (a clock's, "at 3.20", unless an amount), not a year, not one, not the
    length of the answer asked for ("in two sentences"), not a number given as roughly so
    ("about 300": the notes may say 299)."""
    doc = nlp.parse(text)
    skip = nlp.reference_tokens(doc) | {
        t.i for t in doc if t.like_num and t.dep_ == "nummod" and t.head.lemma_.lower()
        in quantities.ANSWER_SHAPE} | {
        t.i for t in doc if t.like_num and any(
            c.lower_ in quantities.APPROXIMATE for c in (*t.children, *t.head.children)
            if c.dep_ in ("advmod", "quantmod", "amod") and c.i < t.i)}
    kept = " ".join(
        "." if (t.i in skip or t.ent_type_ in nlp.TIME_LABELS or t.ent_type_ == "ORDINAL"
                or YEAR.match(t.text) or CLOCK.match(t.text) and t.ent_type_ not in AMOUNTS)
        else t.text for t in doc)
    return frozenset(v for v in quantities.values(kept) if v != 1.0)


@lru_cache(maxsize=2048)
def asked(question: str) -> Asked:
    facts = nlp.facts(question)
    doc = nlp.parse(question)
    shouted = {w.lower() for run in _SHOUTED.findall(question) for w in WORD.findall(run)}
    # two letters name nothing for sure: "PA", "TV" and "HR" are a team's common nouns
    words = {w for n in facts.names for w in WORD.findall(plain(n)) if len(w) > 2} - shouted
    # a month's name or abbreviation is a date, whatever spaCy tagged it
    months = {MONTHS[w] for w in {d.rstrip(".") for d in facts.dates} | words if w in MONTHS}
    names = () if _title_case(doc) else tuple(sorted(w for w in words if w not in MONTHS))
    decades = set(re.findall(r"\b(?:1[5-9]|20)\d0s\b", question))
    amounts = {t.text for t in doc if YEAR.match(t.text) and _amount(t)}
    grouped = {t.text.replace(",", "") for t in doc if "," in t.text}  # "1,850": no year
    years = {d for d in facts.dates | facts.numbers if YEAR.match(d) and f"{d}s" not in
             decades and d not in amounts | grouped} | decades
    numbers = question_values(question) | {float(a) for a in amounts}
    pairs = {(y, MONTHS[m.lower()]) for m, y in MONTH_YEAR.findall(question)} | {
        (y, int(m)) for y, m in ISO.findall(question)}
    return Asked(names, numbers, frozenset(years | {y for y, _ in pairs}),
                 frozenset(months | {m for _, m in pairs}), nlp.passages(question),
                 frozenset(pairs))
