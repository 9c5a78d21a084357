"""Facts a question names, and whether the user's notes hold them anywhere (text or front
matter): the evidence of absence of the no-context decision (``relevance``). A proper name, a
number, a year, decade or month, a scripture reference; both sides normalised before they are
compared (lower case without accents, a plural, possessive or derived form; numbers as values
in words or digits, whatever unit follows; months by name or abbreviation; references by book
and overlapping chapters). Only the question is parsed (spaCy); the notes are read with regular
expressions and pythonbible, once per notes version. A topic or common noun is no fact: its
absence proves nothing and never refuses.
"""

from __future__ import annotations

import bisect
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
# words are all capitalised, or mostly with a common word among them (a title or keyword
# query), no capital is read as a name
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
    """What some notes state, normalised (a user's: read once per notes version)."""

    words: frozenset[str] = frozenset()
    numbers: frozenset[float] = frozenset()
    years: frozenset[str] = frozenset()
    months: frozenset[int] = frozenset()
    passages: frozenset[tuple[str, int, int]] = frozenset()
    # front-matter values as written: speakers, series, the years of dates (``narrowing``)
    speakers: frozenset[str] = frozenset()
    series: frozenset[str] = frozenset()
    dated: frozenset[str] = frozenset()


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
    front: dict[str, set[str]] = {"speaker": set(), "series": set()}
    for text, meta in items:
        meta = meta or {}
        texts += [text, _meta_text(meta)]
        date = str(meta.get("date") or "")
        if (m := _DATE_MONTH.match(date)) and 1 <= int(m.group(1)) <= 12:
            months.add(int(m.group(1)))
        if date[:4].isdigit():
            years.add(date[:4])
        for field, values in front.items():
            if isinstance(value := meta.get(field), str) and value.strip():
                values.add(value)
    dated = frozenset(years)
    whole = "\n".join(texts)
    words = frozenset(_WORD.findall(plain(whole)))
    years |= {t for t in re.findall(r"\b\d{4}\b", whole) if _YEAR.match(t)}
    months |= {i for w, i in MONTHS.items() if w in words}
    return NoteFacts(words, frozenset(quantities.values(whole)), frozenset(years),
                     frozenset(months), passages(frozenset().union(
                         *(nlp.scripture_refs(t) for t in dict.fromkeys(texts) if t))),
                     frozenset(front["speaker"]), frozenset(front["series"]), dated)


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


def _title_case(doc: Any) -> bool:
    words = [t for t in doc[1:] if t.is_alpha and len(t) > 3]
    capital = [t for t in words if t.text[0].isupper()]
    return bool(words) and (len(capital) == len(words) or (
        len(capital) / len(words) >= _TITLE_SHARE
        and any(t.pos_ not in ("PROPN", "NOUN") for t in capital)))


def _amount(token: Any) -> bool:
    """A number of a year's shape that is an amount ("1900 pounds"), not a year."""
    return token.ent_type_ in ("MONEY", "QUANTITY", "PERCENT") or (
        token.dep_ == "nummod" and token.head.pos_ == "NOUN" and token.ent_type_ != "DATE")


@lru_cache(maxsize=1024)
def question_values(text: str) -> frozenset[float]:
    """The numbers a question names as facts (``quantities``): not in a scripture reference, a
    date or a time, not a year, not one, not the length of the answer asked for ("in two
    sentences"), not a number given as roughly so ("about 300": the notes may say 299)."""
    doc = nlp.parse(text)
    skip = nlp.reference_tokens(doc) | {
        t.i for t in doc if t.like_num and t.dep_ == "nummod" and t.head.lemma_.lower()
        in quantities.ANSWER_SHAPE} | {
        t.i for t in doc if t.like_num and any(
            c.lower_ in quantities.APPROXIMATE for c in (*t.children, *t.head.children)
            if c.dep_ in ("advmod", "quantmod", "amod") and c.i < t.i)}
    kept = " ".join(
        "." if (t.i in skip or t.ent_type_ in nlp.TIME_LABELS or t.ent_type_ == "ORDINAL"
                or _YEAR.match(t.text)) else t.text for t in doc)
    return frozenset(v for v in quantities.values(kept) if v != 1.0)


@lru_cache(maxsize=2048)
def asked(question: str) -> Asked:
    facts = nlp.facts(question)
    doc = nlp.parse(question)
    shouted = {w.lower() for run in _SHOUTED.findall(question) for w in _WORD.findall(run)}
    words = {w for n in facts.names for w in _WORD.findall(plain(n)) if len(w) > 1} - shouted
    # a month's name or abbreviation is a date, whatever spaCy tagged it
    months = {MONTHS[w] for w in {d.rstrip(".") for d in facts.dates} | words if w in MONTHS}
    names = () if _title_case(doc) else tuple(sorted(w for w in words if w not in MONTHS))
    decades = set(re.findall(r"\b(?:1[5-9]|20)\d0s\b", question))
    amounts = {t.text for t in doc if _YEAR.match(t.text) and _amount(t)}
    years = {d for d in facts.dates | facts.numbers
             if _YEAR.match(d) and f"{d}s" not in decades and d not in amounts} | decades
    numbers = question_values(question) | {float(a) for a in amounts}
    return Asked(names, numbers, frozenset(years), frozenset(months), passages(facts.scripture))


_ENDING = re.compile(r"(?:'s|ies|es|s|ing|ed)$")


def _stem(word: str) -> str:
    """A word without the ending of a plural, possessive or verb form ("feeding": feed)."""
    stem = _ENDING.sub("", word)
    return stem if len(stem) > 2 else word


_DERIVED = 3  # letters a name's derived form adds ("Persia": "Persian", "Israel": "Israelites")


def _has_word(word: str, words: frozenset[str]) -> bool:
    """The word, a form of it, or (of four letters or more, the word or its stem) a form
    derived from it or that it derives from ("Israelites": Israel), in ``words``."""
    if word in words or _stem(word) in _stems(words):
        return True
    return any(_derived(w, words) for w in {word, _stem(word)} if len(w) >= 4)


def _derived(word: str, words: frozenset[str]) -> bool:
    ordered = _sorted(words)
    at = bisect.bisect_left(ordered, word)
    while at < len(ordered) and ordered[at].startswith(word):
        if len(ordered[at]) - len(word) <= _DERIVED:
            return True
        at += 1
    return any(word[:n] in words for n in range(max(4, len(word) - _DERIVED), len(word)))


@lru_cache(maxsize=256)
def _stems(words: frozenset[str]) -> frozenset[str]:
    return frozenset(_stem(w) for w in words)


@lru_cache(maxsize=256)
def _sorted(words: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(words))


def _has_year(year: str, years: frozenset[str]) -> bool:
    if m := _DECADE.match(year):
        return any(y.startswith(m.group(1)) for y in years)
    return year in years


KINDS = ("names", "numbers", "dates", "scripture")


def absent(question: Asked, notes: NoteFacts) -> dict[str, tuple[list[str], list[str]]]:
    """Per kind of fact the question names (``KINDS``): (the facts named, those that
    ``notes`` state nowhere), each as a short phrase."""
    def passage(p: tuple[str, int, int]) -> str:
        return f"{p[0].title()} {p[1]}" + (f"-{p[2]}" if p[2] != p[1] else "")

    dates = [(y, _has_year(y, notes.years)) for y in sorted(question.years)]
    dates += [(calendar.month_name[m], m in notes.months) for m in sorted(question.months)]
    found = {
        "names": [(n, _has_word(n, notes.words)) for n in question.names],
        "numbers": [(f"{v:g}", v in notes.numbers) for v in sorted(question.numbers)],
        "dates": dates,
        "scripture": [(passage(p), any(p[0] == b and p[1] <= z and a <= p[2]
                                       for b, a, z in notes.passages))
                      for p in sorted(question.passages)]}
    return {kind: ([f for f, _ in pairs], [f for f, held in pairs if not held])
            for kind, pairs in found.items() if pairs}


class NotesMemo:
    """The facts of each user's notes, read once per notes version (``texts``: a store's
    ``user_texts``, rows of note id, text, front matter), the last ``size`` users kept."""

    def __init__(self, texts: Callable[[str], Iterable[tuple[str, str, Mapping[str, Any]]]],
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
        facts = of_notes((text, meta) for _, text, meta in self.texts(user_id))
        with self._lock:
            self._facts[key] = facts
            while len(self._facts) > self.size:
                self._facts.popitem(last=False)
        return facts
