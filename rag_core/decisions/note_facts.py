"""Facts a question names, and whether the user's notes hold them anywhere: the evidence of
absence of the no-context decision (``rag_core.decisions.relevance``).

A fact is something the notes must state, in some writing, for the question to be answerable:
a proper name, a number, a year, a month, a scripture reference. Each side is normalised before
the two are compared, so that a fact written another way still reads the same: words lower
case without accents, a name's plural or possessive; numbers as values, in words or digits
("five thousand", "5,000", "5k" is not a number but a code), whatever unit or abbreviation
follows them (only the value is compared); months by name, abbreviation or a front-matter
date; years in the text or a front-matter date, a decade ("the 1990s") by any year in it;
references by book and overlapping chapters. Only the question's facts are parsed (spaCy);
the notes are read with regular expressions and pythonbible, once per notes version.

What is not a fact: a word that names what kind of answer is asked, a topic, a common noun.
Those may be worded in a hundred ways; their absence proves nothing and never refuses.
"""

from __future__ import annotations

import calendar
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rag_core.decisions import nlp, quantities

_WORD = re.compile(r"[^\W\d_]+")
_YEAR = re.compile(r"^(1[5-9]|20)\d\d$")
_DECADE = re.compile(r"^((?:1[5-9]|20)\d)0s$")
_DATE_MONTH = re.compile(r"^\d{4}-(\d{1,2})")
_REF = re.compile(r"^(.+?) (\d+)(?::\d+)?(?:-(\d+)(?::\d+)?)?$")
# month names and their abbreviations ("Sep", "Sept"), from the calendar module
MONTHS = {**{n.lower(): i for i, n in enumerate(calendar.month_name) if n},
          **{n.lower(): i for i, n in enumerate(calendar.month_abbr) if n}, "sept": 9}
# capitals mark names only where common words go without them: in a question whose longer
# words are mostly capitalised (a title or keyword query) no capital is read as a name
_TITLE_SHARE = 0.6
# nor is a word in a run of words written wholly in capitals ("SYSTEM OVERRIDE"): emphasis
_SHOUTED = re.compile(r"\b[A-Z]{2,}(?:\W+[A-Z]{2,}\b)+")


def plain(text: str) -> str:
    """Lower case, accents off ("José" and "Jose" are one name)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def passages(refs: frozenset[str]) -> frozenset[tuple[str, int, int]]:
    """(book, first chapter, last chapter) of normalised references (``nlp.scripture_refs``)."""
    out = set()
    for ref in refs:
        if m := _REF.match(ref):
            first = int(m.group(2))
            out.add((m.group(1), first, int(m.group(3) or first)))
    return frozenset(out)


@dataclass(frozen=True)
class NoteFacts:
    """What a user's notes state, normalised: read once per notes version."""

    words: frozenset[str] = frozenset()
    numbers: frozenset[float] = frozenset()
    years: frozenset[str] = frozenset()
    months: frozenset[int] = frozenset()
    passages: frozenset[tuple[str, int, int]] = frozenset()


def _meta_text(meta: Mapping[str, Any]) -> str:
    values: list[str] = []
    for key, value in meta.items():
        if key in ("content_hash", "source", "path"):
            continue
        values += [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
    return " ".join(values)


def of_notes(items: Iterable[tuple[str, Mapping[str, Any] | None]]) -> NoteFacts:
    """The facts of texts with their front matter (a user's chunks, or some of them)."""
    texts: list[str] = []
    months: set[int] = set()
    years: set[str] = set()
    for text, meta in items:
        meta = meta or {}
        texts += [text, _meta_text(meta)]
        date = str(meta.get("date") or "")
        if (m := _DATE_MONTH.match(date)) and 1 <= int(m.group(1)) <= 12:
            months.add(int(m.group(1)))
        if date[:4].isdigit():
            years.add(date[:4])
    whole = "\n".join(texts)
    words = frozenset(_WORD.findall(plain(whole)))
    years |= {t for t in re.findall(r"\b\d{4}\b", whole) if _YEAR.match(t)}
    months |= {i for w, i in MONTHS.items() if w in words}
    return NoteFacts(words, frozenset(quantities.values(whole)), frozenset(years),
                     frozenset(months), passages(frozenset().union(
                         *(nlp.scripture_refs(t) for t in dict.fromkeys(texts) if t))))


@dataclass(frozen=True)
class Asked:
    """The facts a question names."""

    names: tuple[str, ...] = ()
    numbers: frozenset[float] = frozenset()
    years: frozenset[str] = frozenset()
    months: frozenset[int] = frozenset()
    passages: frozenset[tuple[str, int, int]] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.names or self.numbers or self.years or self.months or self.passages)


def _title_case(text: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z]+", text)[1:] if len(w) > 3]
    return bool(words) and sum(w[0].isupper() for w in words) / len(words) >= _TITLE_SHARE


@lru_cache(maxsize=2048)
def asked(question: str) -> Asked:
    facts = nlp.facts(question)
    shouted = {w.lower() for run in _SHOUTED.findall(question) for w in _WORD.findall(run)}
    names = () if _title_case(question) else tuple(sorted(
        {w for n in facts.names for w in _WORD.findall(plain(n)) if len(w) > 1} - shouted))
    stamps = facts.dates | facts.numbers
    years = {d for d in stamps if _YEAR.match(d)}
    years |= {d for d in stamps if _DECADE.match(d)}
    months = {MONTHS[d.rstrip(".")] for d in facts.dates if d.rstrip(".") in MONTHS}
    return Asked(names, quantities.question_values(question), frozenset(years),
                 frozenset(months), passages(facts.scripture))


def _has_word(word: str, words: frozenset[str]) -> bool:
    return word in words or word.rstrip("s") in words or word + "s" in words \
        or word + "es" in words


def _has_year(year: str, years: frozenset[str]) -> bool:
    if m := _DECADE.match(year):
        return any(y.startswith(m.group(1)) for y in years)
    return year in years


def missing(question: Asked, notes: NoteFacts) -> list[str]:
    """The facts of ``question`` that ``notes`` state nowhere, each as a short phrase."""
    out = [f"name {n!r}" for n in question.names if not _has_word(n, notes.words)]
    out += [f"number {v:g}" for v in sorted(question.numbers) if v not in notes.numbers]
    out += [f"year {y}" for y in sorted(question.years) if not _has_year(y, notes.years)]
    out += [f"month {calendar.month_name[m]}" for m in sorted(question.months)
            if m not in notes.months]
    out += [f"{b.title()} {a}" + (f"-{z}" if z != a else "")
            for b, a, z in sorted(question.passages)
            if not any(b == hb and a <= hz and ha <= z for hb, ha, hz in notes.passages)]
    return out


class NotesMemo:
    """The facts of each user's notes, read once per notes version (``texts``: a store's
    ``user_texts``), the last ``size`` users kept."""

    def __init__(self, texts: Callable[[str], Iterable[tuple[str, Mapping[str, Any]]]],
                 size: int = 64) -> None:
        self.texts, self.size = texts, size
        self._facts: OrderedDict[tuple[str, int], NoteFacts] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str, version: int) -> NoteFacts:
        key = (user_id, version)
        with self._lock:
            if key in self._facts:
                self._facts.move_to_end(key)
                return self._facts[key]
        facts = of_notes(self.texts(user_id))
        with self._lock:
            self._facts[key] = facts
            while len(self._facts) > self.size:
                self._facts.popitem(last=False)
        return facts
