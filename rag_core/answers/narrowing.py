"""Filters read from the question: a speaker, series or year it names that is a front-matter
value of the user's notes narrows the search (``store.filters.Narrowing``).

A value is named when its words, normalised as the no-context facts are (``rag_core.text.plain``:
lower case, accents off), stand in the question's words in a row, whole: "Pastor Miriam
Okafor" is named by "what did pastor miriam okafor say", not by "Okafor" alone. A year is one
year of four digits, and only when the question names no other (two years may bound a span
whose middle years are not named), read as the no-context facts read it (an amount such as
"1900 pounds" is no year). A value no note's front matter holds narrows nothing, and the
search keeps every note whose text holds the value whatever its front matter says (a year in
a question often names an event in the text, not the note's date); a speaker's text also by
a word of their name no other speaker's holds (a note that says "Tomasz" speaks of Tomasz
Wierzba when no other speaker is a Tomasz). A filter the caller set
wins over one read from the question for the same field (``date_from`` and ``date_to`` for
the year).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Protocol

from rag_core.store.filters import NO_NARROWING, Filters, Narrowing
from rag_core.text.named import asked
from rag_core.text.plain import plain

_TOKEN = re.compile(r"[^\W_]+")
_FOUR_DIGITS = re.compile(r"\b\d{4}\b")


class FrontMatter(Protocol):
    """What narrowing reads of the facts of a user's notes (``NoteFacts`` holds them): the
    front-matter values as written, and the years of the notes' dates."""

    @property
    def speakers(self) -> frozenset[str]: ...

    @property
    def series(self) -> frozenset[str]: ...

    @property
    def dated(self) -> frozenset[str]: ...


def _words(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(plain(text)))


def _named(question: tuple[str, ...], values: Iterable[str]) -> tuple[str, ...]:
    """The values whose words stand in ``question``'s words in a row."""
    out = []
    for value in values:
        words = _words(value)
        if words and any(question[i:i + len(words)] == words
                         for i in range(len(question) - len(words) + 1)):
            out.append(value)
    return tuple(sorted(out))


def _own_words(named: tuple[str, ...], values: Iterable[str]) -> tuple[str, ...]:
    """The words of the ``named`` values (of three letters or more) that no other value holds:
    a text that writes one of them alone names that value (a first or family name)."""
    def words(value: str) -> set[str]:  # as the front matter writes them (accents kept)
        return set(_TOKEN.findall(value.lower()))

    others = {w for v in values if v not in named for w in words(v)}
    return tuple(sorted({w for v in named for w in words(v) if len(w) > 2} - others))


def _year(question: str, dated: frozenset[str]) -> str | None:
    if not {y for y in _FOUR_DIGITS.findall(question)} & dated:  # spaCy only when it may
        return None
    years = {y for y in asked(question).years if y.isdigit()}
    return next(iter(years)) if len(years) == 1 and years <= dated else None


def read(question: str, notes: Callable[[], FrontMatter],
         given: Filters) -> Narrowing:
    """What ``question`` narrows the search to among notes whose facts ``notes`` reads
    (called once), the fields of the caller's filters ``given`` left out."""
    facts = notes()
    words = _words(question)
    speakers = () if given.speaker else _named(words, facts.speakers)
    found = Narrowing(
        speaker=speakers, series=() if given.series else _named(words, facts.series),
        year=None if given.date_from or given.date_to else _year(question, facts.dated),
        speaker_words=_own_words(speakers, facts.speakers))
    return found if found else NO_NARROWING
