"""What a note's front-matter fields may hold, on every write path (Markdown front matter, JSON
lines, ``PUT`` and bulk over HTTP): checked when a note is read, before any chunking or
embedding.

- Length: a field rides in every chunk retrieved from its note, in every citation and every
  cached answer, so each is bounded (``LIMITS``): a title of at most 300 characters (a longer
  one is kept whole in the body and shortened: ``rag_core.ingest.notes.bound_title``), a speaker
  and a series of 120, at most 20 tags of 40 characters each and at most 40 scripture
  references of 80.
- Characters: a field is one line of visible text, so the note ids' rule applies
  (``UNREADABLE_CATEGORIES``): control characters (tab and line breaks included), format
  characters (the bidirectional controls that reorder what a reader sees, zero-width spaces and
  joiners), line and paragraph separators, private use, lone surrogates and unassigned code
  points are refused. The body keeps its own, looser rule (``rag_core.ingest.notes``).
- Dates: ``YYYY``, ``YYYY-MM`` or a calendar date ``YYYY-MM-DD`` that exists, in ASCII digits
  (a date is compared as text, so other scripts' digits would sort wrongly), optionally with an
  ISO time of day; anything else ("2019-Se-01", "2019-02-30", "١٩١٩") is refused.

Every problem names the field, so that a caller knows what to shorten or fix.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from rag_core.safety.normalise import character_problem


@dataclass(frozen=True)
class Limit:
    chars: int  # characters per value (per item for a list)
    items: int = 1  # values a list field may hold


LIMITS = {
    "title": Limit(300),
    "speaker": Limit(120),
    "series": Limit(120),
    "tags": Limit(40, items=20),
    "scripture": Limit(80, items=40),
}
_YEAR = re.compile(r"\d{4}", re.ASCII)
_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", re.ASCII)


def field_problem(name: str, value: str | tuple[str, ...] | None) -> str | None:
    """Why the value of field ``name`` breaks its limit or holds a forbidden character."""
    if value is None:
        return None
    items = value if isinstance(value, tuple) else (value,)
    limit = LIMITS.get(name)
    if limit is not None and limit.items > 1 and len(items) > limit.items:
        return f"has {len(items)} items; at most {limit.items} are allowed"
    for item in items:
        problem = character_problem(item)
        if problem:
            return problem
        if limit is not None and len(item) > limit.chars:
            each = " each" if limit.items > 1 else ""
            return f"has {len(item):,} characters; at most {limit.chars}{each} are allowed"
    return None


def normal_date(text: str) -> str | None:
    """``text`` as a stored date (a date at midnight without a zone loses its time), or None
    when it is not ``YYYY``, ``YYYY-MM`` or a real ISO date, optionally with a time."""
    text = text.strip()
    if _YEAR.fullmatch(text):
        return text
    month = _MONTH.fullmatch(text)
    if month:
        return text if 1 <= int(month.group(2)) <= 12 else None
    try:
        if _DAY.fullmatch(text):
            return dt.date.fromisoformat(text).isoformat()
        if _TIMESTAMP.fullmatch(text):
            stamp = dt.datetime.fromisoformat(text)
            if stamp.time() == dt.time() and stamp.tzinfo is None:
                return stamp.date().isoformat()
            return stamp.isoformat()
    except ValueError:
        return None
    return None

