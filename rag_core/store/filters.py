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
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rag_core.errors import InvalidFilter
from rag_core.safety.normalise import character_problem

# the longest values a filter takes: the longest a note's front matter holds
MAX_FIELD_CHARS = 120
MAX_TAGS = 20
MAX_TAG_CHARS = 40
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
FIELDS = ("speaker", "series", "tags", "date_from", "date_to")

__all__ = ["FIELDS", "NO_FILTERS", "Filters", "InvalidFilter"]


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


@dataclass(frozen=True)
class Filters:
    """Which notes a search may look at; the empty value (every field unset) looks at all."""

    speaker: str | None = None
    series: str | None = None
    tags: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None

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
    def from_dict(cls, data: Mapping[str, Any] | None) -> Filters:
        data = data or {}
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise InvalidFilter(f"Unknown filter {unknown[0]!r}; the filters are "
                                f"{', '.join(FIELDS)}.")
        return cls.parse(**{k: data.get(k) for k in FIELDS})

    def __bool__(self) -> bool:
        return any((self.speaker, self.series, self.tags, self.date_from, self.date_to))

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set (what a request sends back, and what the answer shows)."""
        full = {"speaker": self.speaker, "series": self.series, "tags": list(self.tags),
                "date_from": self.date_from, "date_to": self.date_to}
        return {k: v for k, v in full.items() if v}

    def key(self) -> dict[str, Any]:
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

    def binds(self) -> dict[str, Any]:
        """The bind values of the store's filter predicate (``sql.search.filter_predicate``)."""
        return {"f_speaker": self.speaker, "f_series": self.series,
                "f_tags": list(self.tags) or None, "f_from": self.date_from,
                "f_to": self.date_to}

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        """Whether a note's front matter passes: the rule of the SQL predicate, in Python."""
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
