"""Whether the user's notes hold the facts a question names (a proper name, a number, a year,
decade or month, a scripture reference) anywhere, text or front matter, both sides normalised
(how: the README beside this file). The question is read by ``rag_core.text.asked`` (spaCy);
the notes here, with regular expressions and pythonbible, once per notes version."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from rag_core.decisions.semantic_canonical import is_slip
from rag_core.embedding.base import model_words
from rag_core.text import nlp, quantities
from rag_core.text.dates import DECADE, ISO, MONTHS, WORD, YEARS
from rag_core.text.named import Asked
from rag_core.text.plain import plain


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
                 for w in WORD.findall(plain(g.regular_expression))}
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
    iso = ISO.findall(text)
    return ({*YEARS.findall(text), *(y for y, _ in iso)},
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
        words |= (here := set(WORD.findall(plain(own))))
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
    m = DECADE.match(year)  # a decade is held by any year of it
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
