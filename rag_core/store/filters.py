"""Filters a caller sets on a search: which of the user's notes may be searched at all.

``speaker`` and ``series`` match the note's front matter case-insensitively (whole value);
``tags`` match when the note carries any of them (case-insensitively); ``date_from`` and
``date_to`` bound the note's front-matter date, each given as ``YYYY``, ``YYYY-MM`` or
``YYYY-MM-DD`` and inclusive at its own precision (``date_to`` 2019 keeps every note of 2019).
A note without the field a filter names never matches it. Blank values set nothing.

One ``Filters`` value goes from the edge (the route, the CLI) through the pipeline to the
store, which applies it in its search (``sql.search``: in SQL, on the user's rows), and into
every cache key that names an answer or a retrieval (``key``). ``matches`` is the same rule in
Python, for the in-memory store.

``Narrowing`` is the other kind: filters read from the question (``answers.narrowing``), a
speaker, series or year it names that is a front-matter value of the user's notes. Each keeps
the notes whose front matter has the value *or* whose text holds it (whole words, whatever the
case), so it never drops a note that names it. The pipeline hangs it on the caller's filters
(``Filters.narrowed``) for the search only: it is no part of ``key`` (it is a function of the
question and the notes version, which every key names already), nor of what the caller sent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from rag_core.errors import InvalidFilter
from rag_core.safety.normalise import character_problem
from rag_core.types import JsonObject

# the longest values a filter takes: the longest a note's front matter holds
MAX_FIELD_CHARS = 120
MAX_TAGS = 20
MAX_TAG_CHARS = 40
# ASCII digits only: a note's date is compared as text, so another script's digits would sort
# wrongly
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", re.ASCII)
FIELDS = ("speaker", "series", "tags", "date_from", "date_to")

__all__ = ["FIELDS", "NO_FILTERS", "NO_NARROWING", "Filters", "InvalidFilter", "Narrowing"]


def _bounds(text: str, name: str) -> tuple[dt.date, dt.date]:
    """The first and last day of a date given at its precision; a bad one is refused."""
    found = _DATE.fullmatch(text)
    if found is None:
        raise InvalidFilter(f"filters.{name} must be YYYY, YYYY-MM or YYYY-MM-DD, not {text!r}.")
    year, month, day = (int(g) if g else None for g in found.groups())
    assert year is not None
    try:
        if day is not None and month is not None:
            first = last = dt.date(year, month, day)
        elif month is not None:
            first = dt.date(year, month, 1)
            last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1))
        else:
            first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    except ValueError:
        raise InvalidFilter(f"filters.{name}: {text!r} is not a date in the calendar.") from None
    return first, last


def _text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidFilter(f"filters.{name} must be text.")
    text = value.strip()
    problem = character_problem(text)
    if problem:
        raise InvalidFilter(f"filters.{name} {problem}.")
    if len(text) > MAX_FIELD_CHARS:
        raise InvalidFilter(f"filters.{name} is longer than {MAX_FIELD_CHARS} characters.")
    return text or None


def _tags(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, Mapping):
        raise InvalidFilter("filters.tags must be a list of text.")
    out: list[str] = []
    for item in items:
        tag = _text(item, "tags")
        if tag is not None and len(tag) > MAX_TAG_CHARS:
            raise InvalidFilter(f"filters.tags: a tag is longer than {MAX_TAG_CHARS} characters.")
        if tag is not None and tag.lower() not in {t.lower() for t in out}:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise InvalidFilter(f"filters.tags holds more than {MAX_TAGS} tags.")
    return tuple(out)


_TOKEN = re.compile(r"[^\W_]+")


def held_pattern(values: Iterable[str]) -> str | None:
    """A regular expression that finds any of ``values`` in a text as whole words, whatever
    the case and whatever separates the words (the same text in Python's ``re`` and in
    PostgreSQL's ``~*``: word characters only, no syntax either reads otherwise)."""
    forms = sorted({r"\W+".join(words) for v in values if (words := _TOKEN.findall(v.lower()))})
    return rf"(?:^|\W)(?:{'|'.join(forms)})(?:\W|$)" if forms else None


@dataclass(frozen=True)
class Narrowing:
    """Filters read from the question: front-matter values it names (``answers.narrowing``).
    Each field set keeps the notes whose front matter has one of its values (speaker, series:
    whatever the case; year: the date's year) or whose text holds one as whole words."""

    speaker: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    year: str | None = None
    # more ways a text names the speakers: a word of one that no other speaker's name holds
    # ("Tomasz" of "Tomasz Wierzba"), as a note that speaks of someone often writes
    speaker_words: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.speaker or self.series or self.year)

    def to_dict(self) -> JsonObject:
        full = {"speaker": list(self.speaker), "series": list(self.series), "year": self.year,
                "speaker_words": list(self.speaker_words)}
        return {k: v for k, v in full.items() if v}

    def describe(self) -> str:
        parts = [f"{name} {' or '.join(repr(v) for v in values)}"
                 for name, values in (("speaker", self.speaker), ("series", self.series))
                 if values]
        if self.year:
            parts.append(f"dated {self.year}")
        return ", ".join(parts) + " (or a note whose text names it)" if parts else ""

    def texts(self) -> dict[str, str | None]:
        """Per field, the pattern of a text that holds one of its values (``held_pattern``)."""
        return {"speaker": held_pattern(self.speaker + self.speaker_words),
                "series": held_pattern(self.series),
                "year": held_pattern([self.year] if self.year else [])}

    def binds(self) -> dict[str, object]:
        """The bind values of the ``a_*`` part of ``sql.filtering.filter_predicate``."""
        held = self.texts()
        return {"a_speaker": list(self.speaker) or None, "a_speaker_text": held["speaker"],
                "a_series": list(self.series) or None, "a_series_text": held["series"],
                "a_year": self.year, "a_year_text": held["year"]}

    def matches(self, metadata: Mapping[str, object], text: str) -> bool:
        """Whether a note passes: ``metadata`` its front matter, ``text`` all of its text."""
        held = self.texts()

        def keeps(field: str, front: bool) -> bool:
            pattern = held[field]
            return pattern is None or front or re.search(pattern, text, re.IGNORECASE) is not None

        def named(field: str, values: tuple[str, ...]) -> bool:
            value = metadata.get(field)
            return isinstance(value, str) and value.lower() in {v.lower() for v in values}

        day = metadata.get("date")
        dated = isinstance(day, str) and day[:4] == self.year
        return (keeps("speaker", named("speaker", self.speaker))
                and keeps("series", named("series", self.series)) and keeps("year", dated))


NO_NARROWING = Narrowing()


@dataclass(frozen=True)
class Filters:
    """Which notes a search may look at; the empty value (every field unset) looks at all.
    ``asked``: the filters read from the question, searched with these but no part of their
    key, their words or what the caller sent (``narrowed``)."""

    speaker: str | None = None
    series: str | None = None
    tags: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    asked: Narrowing = NO_NARROWING

    @classmethod
    def parse(cls, speaker: object = None, series: object = None, tags: object = None,
              date_from: object = None, date_to: object = None) -> Filters:
        """A checked value from what a caller sent: ``InvalidFilter`` (422) names the field."""
        start, end = _text(date_from, "date_from"), _text(date_to, "date_to")
        if start is not None and end is not None and _bounds(start, "date_from")[0] > \
                _bounds(end, "date_to")[1]:
            raise InvalidFilter(f"filters.date_from ({start}) is after filters.date_to ({end}).")
        for text, name in ((start, "date_from"), (end, "date_to")):
            if text is not None:
                _bounds(text, name)
        return cls(speaker=_text(speaker, "speaker"), series=_text(series, "series"),
                   tags=_tags(tags), date_from=start, date_to=end)

    @classmethod
    def from_dict(cls, data: Mapping[str, object] | None) -> Filters:
        data = data or {}
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise InvalidFilter(f"Unknown filter {unknown[0]!r}; the filters are "
                                f"{', '.join(FIELDS)}.")
        return cls.parse(**{k: data.get(k) for k in FIELDS})

    def __bool__(self) -> bool:
        """Whether the caller set a filter (``asked`` aside: see ``narrows``)."""
        return any((self.speaker, self.series, self.tags, self.date_from, self.date_to))

    @property
    def narrows(self) -> bool:
        """Whether a search under these looks at fewer notes than all (the caller's filters
        or the question's)."""
        return bool(self) or bool(self.asked)

    def narrowed(self, asked: Narrowing) -> Filters:
        """These filters searched with ``asked`` as well."""
        return replace(self, asked=asked)

    def to_dict(self) -> dict[str, str | list[str]]:
        """The fields that are set (what a request sends back, and what the answer shows)."""
        full = {"speaker": self.speaker, "series": self.series, "tags": list(self.tags),
                "date_from": self.date_from, "date_to": self.date_to}
        return {k: v for k, v in full.items() if v is not None and v}

    def key(self) -> dict[str, dict[str, str | list[str]]]:
        """What names these filters in a cache key: the same for any spelling that matches
        the same notes (case, order of tags); empty without filters, so that the keys of
        unfiltered questions stay as they were."""
        if not self:
            return {}
        return {"filters": {"speaker": (self.speaker or "").lower(),
                            "series": (self.series or "").lower(),
                            "tags": sorted({t.lower() for t in self.tags}),
                            "date_from": self.date_from or "", "date_to": self.date_to or ""}}

    def describe(self) -> str:
        """The filters in words, for a reason that names them."""
        parts = [f"{name} {value!r}" for name, value in (("speaker", self.speaker),
                                                           ("series", self.series)) if value]
        if self.tags:
            parts.append("tag " + " or ".join(repr(t) for t in self.tags))
        if self.date_from:
            parts.append(f"dated from {self.date_from}")
        if self.date_to:
            parts.append(f"dated up to {self.date_to}")
        return ", ".join(parts)

    def binds(self) -> dict[str, object]:
        """The bind values of the store's filter predicate (``sql.search.filter_predicate``)."""
        return {"f_speaker": self.speaker, "f_series": self.series,
                "f_tags": list(self.tags) or None, "f_from": self.date_from,
                "f_to": self.date_to, **self.asked.binds()}

    def matches(self, metadata: Mapping[str, object], text: str = "") -> bool:
        """Whether a note passes: the rule of the SQL predicate, in Python (``text``: all of
        the note's text, read by ``asked`` only)."""
        if self.asked and not self.asked.matches(metadata, text):
            return False
        def same(field: str, wanted: str | None) -> bool:
            value = metadata.get(field)
            return wanted is None or (isinstance(value, str)
                                      and value.lower() == wanted.lower())

        if not (same("speaker", self.speaker) and same("series", self.series)):
            return False
        if self.tags:
            held = metadata.get("tags")
            kept = {str(t).lower() for t in held} if isinstance(held, list) else set()
            if not kept & {t.lower() for t in self.tags}:
                return False
        day = metadata.get("date")
        day = day if isinstance(day, str) else ""
        if self.date_from and (not day or day[:len(self.date_from)] < self.date_from):
            return False
        return not (self.date_to and (not day or day[:len(self.date_to)] > self.date_to))


NO_FILTERS = Filters()
