"""Facts a question names (a proper name, a number, a year, decade or month, a scripture
reference) and whether the user's notes hold them anywhere, text or front matter, both sides
normalised (how: the README beside this file). Only the question is parsed (spaCy); the notes
are read with regular expressions and pythonbible, once per notes version."""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from rag_core.decisions import nlp, quantities
from rag_core.decisions.semantic_canonical import is_slip
from rag_core.embedding.base import model_words

_WORD = re.compile(r"[^\W\d_]+")
_YEAR = re.compile(r"^(1[5-9]|20)\d\d$")
_DECADE = re.compile(r"^((?:1[5-9]|20)\d)0s$")
_YEARS = re.compile(r"\b(?:1[5-9]|20)\d\d\b")
_ISO = re.compile(r"\b((?:1[5-9]|20)\d\d)-(0?[1-9]|1[0-2])\b")  # "2024-05", "2024-05-12"
_CLOCK = re.compile(r"^(?:[01]?\d|2[0-4])\.[0-5]\d$")  # "3.20", "11.45": a time of day
_AMOUNTS = ("MONEY", "QUANTITY", "PERCENT")  # spaCy's labels of an amount
# month names and their abbreviations ("Sep", "Sept"), from the calendar module
MONTHS = {**{n.lower(): i for i, n in enumerate(calendar.month_name) if n},
          **{n.lower(): i for i, n in enumerate(calendar.month_abbr) if n}, "sept": 9}
# a month named with its year ("May 2022", "8 May 2022", "May 8th, 2022", "May of 2022")
_MONTH_YEAR = re.compile(rf"\b({'|'.join(MONTHS)})\b\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?,?"
                         r"\s+(?:of\s+)?((?:1[5-9]|20)\d\d)\b", re.IGNORECASE)
# capitals mark names only where common words go without them: in a question whose longer
# words are all capitalised, or mostly with a common word among them (a title or keyword
# query), no capital is read as a name
_TITLE_SHARE = 0.6
# nor is a word in a run of words written wholly in capitals ("SYSTEM OVERRIDE"): emphasis
_SHOUTED = re.compile(r"\b[A-Z]{2,}(?:\W+[A-Z]{2,}\b)+")
# letters Unicode does not decompose into a plain letter and an accent ("Østby": Ostby)
_FOLDED = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d",
                         "ð": "d", "þ": "th", "ı": "i", "ħ": "h"})


def plain(text: str) -> str:
    """Lower case, accents off ("José" and "Jose" are one name, "Østby" and "Ostby" too)."""
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_FOLDED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class NoteFacts:
    """What some notes state, normalised (a user's: read once per notes version)."""

    words: frozenset[str] = frozenset()
    forms: frozenset[str] = frozenset()  # their stems, and their first letters (4 or more)
    numbers: frozenset[float] = frozenset()
    years: frozenset[str] = frozenset()
    months: frozenset[int] = frozenset()
    month_years: frozenset[tuple[str, int]] = frozenset()  # a year and a month of one note
    # front-matter values as written: speakers, series, the years of dates (``narrowing``)
    speakers: frozenset[str] = frozenset()
    series: frozenset[str] = frozenset()
    dated: frozenset[str] = frozenset()
    # kept for ``passages``: on the golden notes 158 KB beside the 1.3 MB of words and forms
    texts: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @cached_property
    def passages(self) -> frozenset[tuple[str, int, int]]:
        """The passages the texts cite, read the first time a question names one (pythonbible
        costs a cold process about 0.4 s to import, and scans every text)."""
        return frozenset().union(*(nlp.passages(t) for t in self.texts))

    @cached_property
    def canon(self) -> frozenset[str]:
        """The words (and stems) of the parts of the Bible the cited books are in, as
        pythonbible names its book groups: notes citing Jonah 4 speak of the Old Testament
        without saying so. Read when a name is in none of the words."""
        import pythonbible as pb

        books = {book for book, _, _ in self.passages}
        words = {w for g in pb.BookGroup if any(b.name in books for b in g.books)
                 for w in _WORD.findall(plain(g.regular_expression))}
        return frozenset(words | {_stem(w) for w in words})


def _meta_text(meta: Mapping[str, Any]) -> str:
    values: list[str] = []
    for key, value in meta.items():
        if key in ("content_hash", "source", "path"):
            continue
        values += [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
    return " ".join(values)


def _dates(text: str, words: Iterable[str]) -> tuple[set[str], set[int]]:
    """The years and months of one text: years, month names and abbreviations, ISO dates."""
    iso = _ISO.findall(text)
    return ({*_YEARS.findall(text), *(y for y, _ in iso)},
            {MONTHS[w] for w in words if w in MONTHS} | {int(m) for _, m in iso})


def of_notes(items: Iterable[tuple[str, Mapping[str, Any] | None]]) -> NoteFacts:
    """The facts of texts with their front matter (a user's notes or chunks: a month and a
    year are one date when one item holds both)."""
    texts: list[str] = []
    words: set[str] = set()
    years: set[str] = set()
    months: set[int] = set()
    pairs: set[tuple[str, int]] = set()
    dated: set[str] = set()
    front: dict[str, set[str]] = {"speaker": set(), "series": set()}
    for text, meta in items:
        meta = meta or {}
        texts.append(own := f"{text}\n{_meta_text(meta)}")
        words |= (here := set(_WORD.findall(plain(own))))
        item_years, item_months = _dates(own, here)
        years |= item_years
        months |= item_months
        pairs |= {(y, m) for y in item_years for m in item_months}
        if (date := str(meta.get("date") or ""))[:4].isdigit():
            dated.add(date[:4])
        for name, values in front.items():
            if isinstance(value := meta.get(name), str) and value.strip():
                values.add(value)
    forms = {_stem(w) for w in words} | {
        w[:n] for w in words for n in range(max(4, len(w) - _DERIVED), len(w) + 1)}
    return NoteFacts(frozenset(words), frozenset(forms),
                     frozenset(quantities.values("\n".join(texts))),
                     frozenset(years), frozenset(months), frozenset(pairs),
                     frozenset(front["speaker"]), frozenset(front["series"]), frozenset(dated),
                     tuple(texts))


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
    return token.ent_type_ in _AMOUNTS or (
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
                or _YEAR.match(t.text) or _CLOCK.match(t.text) and t.ent_type_ not in _AMOUNTS)
        else t.text for t in doc)
    return frozenset(v for v in quantities.values(kept) if v != 1.0)


@lru_cache(maxsize=2048)
def asked(question: str) -> Asked:
    facts = nlp.facts(question)
    doc = nlp.parse(question)
    shouted = {w.lower() for run in _SHOUTED.findall(question) for w in _WORD.findall(run)}
    # two letters name nothing for sure: "PA", "TV" and "HR" are a team's common nouns
    words = {w for n in facts.names for w in _WORD.findall(plain(n)) if len(w) > 2} - shouted
    # a month's name or abbreviation is a date, whatever spaCy tagged it
    months = {MONTHS[w] for w in {d.rstrip(".") for d in facts.dates} | words if w in MONTHS}
    names = () if _title_case(doc) else tuple(sorted(w for w in words if w not in MONTHS))
    decades = set(re.findall(r"\b(?:1[5-9]|20)\d0s\b", question))
    amounts = {t.text for t in doc if _YEAR.match(t.text) and _amount(t)}
    grouped = {t.text.replace(",", "") for t in doc if "," in t.text}  # "1,850": no year
    years = {d for d in facts.dates | facts.numbers if _YEAR.match(d) and f"{d}s" not in
             decades and d not in amounts | grouped} | decades
    numbers = question_values(question) | {float(a) for a in amounts}
    pairs = {(y, MONTHS[m.lower()]) for m, y in _MONTH_YEAR.findall(question)} | {
        (y, int(m)) for y, m in _ISO.findall(question)}
    return Asked(names, numbers, frozenset(years | {y for y, _ in pairs}),
                 frozenset(months | {m for _, m in pairs}), nlp.passages(question),
                 frozenset(pairs))


# "es" is a plural's ending only after a hissing sound (churches, boxes; Andes is no "and")
_ENDING = re.compile(r"(?:'s|ies|(?:(?<=[sxz])|(?<=[cs]h))es|s|ing|ed)$")


_DERIVED = 3  # letters a name's derived form adds ("Persia": "Persian", "Israel": "Israelites")


def _stem(word: str) -> str:
    """A word without the ending of a plural, possessive or verb form ("feeding": feed)."""
    stem = _ENDING.sub("", word)
    return stem if len(stem) > 2 else word


def _has_word(word: str, notes: NoteFacts) -> bool:
    """The word, a form of it, or (of four letters or more, the word or its stem) a form
    derived from it or that it derives from ("Israelites": Israel), in the notes; or a word of
    a part of the Bible they cite."""
    return word in notes.words or any(
        w in notes.forms or len(w) >= 4 and any(
            w[:n] in notes.words for n in range(max(4, len(w) - _DERIVED), len(w)))
        for w in {word, _stem(word)}) or bool({word, _stem(word)} & notes.canon)


def _has_year(year: str, years: frozenset[str]) -> bool:
    m = _DECADE.match(year)  # a decade is held by any year of it
    return any(y.startswith(m.group(1)) for y in years) if m else year in years


def _has_number(value: float, numbers: frozenset[float]) -> bool:
    """The value, or for a round number (80, 5,000) a value within 5 % of it (79, 4,800): a
    round number is often a rounded one."""
    return value in numbers or value >= 10 and value % 10 == 0 and any(
        abs(n - value) <= value / 20 for n in numbers)


KINDS = ("names", "numbers", "dates", "scripture")


def _slipped(name: str, notes: NoteFacts, model: str) -> bool:
    """One slip from a word of the notes ("Watanbe"; ``is_slip``, ``model``'s words read lazily)."""
    words = model_words(model) if model else frozenset()
    return any(is_slip(name, w, words) for w in notes.words if abs(len(w) - len(name)) < 2)


def absent(question: Asked, notes: NoteFacts, model: str = ""
           ) -> dict[str, tuple[list[str], list[str]]]:
    """Per kind of fact the question names (``KINDS``): (the facts named, those that
    ``notes`` state nowhere), each as a short phrase; a name ``_slipped`` is held."""
    def passage(p: tuple[str, int, int]) -> str:
        return f"{p[0].title()} {p[1]}" + (f"-{p[2]}" if p[2] != p[1] else "")

    dates = [(y, _has_year(y, notes.years)) for y in sorted(question.years)]
    dates += [(calendar.month_name[m], m in notes.months) for m in sorted(question.months)]
    dates += [(f"{calendar.month_name[m]} {y}", (y, m) in notes.month_years)
              for y, m in sorted(question.month_years)]
    found = {
        "names": [(n, _has_word(n, notes) or _slipped(n, notes, model)) for n in question.names],
        "numbers": [(f"{v:g}", _has_number(v, notes.numbers)) for v in sorted(question.numbers)],
        "dates": dates,
        "scripture": [(passage(p), any(p[0] == b and p[1] <= z and a <= p[2]
                                       for b, a, z in notes.passages))
                      for p in sorted(question.passages)]}
    return {kind: ([f for f, _ in pairs], [f for f, held in pairs if not held])
            for kind, pairs in found.items() if pairs}


class NotesMemo:
    """The facts of each user's notes, read once per notes version (``texts``: a store's
    ``user_texts``, rows of note id, text, front matter), the last ``size`` versions kept."""

    def __init__(self, texts: Callable[[str], Iterable[tuple[str, str, Mapping[str, Any]]]],
                 size: int = 64) -> None:
        self.texts = texts
        self.get = lru_cache(maxsize=size)(self._read)  # (user id, version) -> NoteFacts

    def _read(self, user_id: str, version: int) -> NoteFacts:
        notes: dict[str, tuple[list[str], Mapping[str, Any]]] = {}  # a note's chunks as one
        for note_id, text, meta in self.texts(user_id):
            notes.setdefault(note_id, ([], meta))[0].append(text)
        return of_notes(("\n".join(texts), meta) for texts, meta in notes.values())
