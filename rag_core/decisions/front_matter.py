"""Filters read from the question and matched against the notes' front matter (the
self-querying step of the no-context decision, ``rag_core.decisions.relevance``).

A question that names a year or a month ("in 2019", "in September 2025"), a speaker of the
user's notes ("what did Rev. Nwosu preach ..."), or a chapter of scripture ("Hebrews 13"), asks
about the notes whose front matter says so (for a chapter: the note's ``scripture`` or its
text names a passage of that book whose chapters overlap it). ``matching`` keeps the
retrieved chunks of such notes: a chunk matches a year when its
note's ``date`` is in that year or its text names the year (a story dated inside a sermon of
another year); a month when the note's date is in that month; a speaker when a name of the
question is a word of the note's ``speaker``. When the question names none of these, every
chunk matches. Month names come from the ``calendar`` module; nothing is fitted to a data set.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag_core.decisions import nlp
from rag_core.types import Chunk

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_YEAR = re.compile(r"^(1[89]|20)\d\d$")
_WORD = re.compile(r"[a-z]+")
_DATE_MONTH = re.compile(r"\d{4}-(\d\d)")


@dataclass(frozen=True)
class Filters:
    years: frozenset[str] = frozenset()
    months: frozenset[int] = frozenset()
    speakers: frozenset[str] = frozenset()  # names of the question that name a speaker
    passages: frozenset[tuple[str, int, int]] = frozenset()  # (book, first, last chapter)

    def __bool__(self) -> bool:
        return bool(self.years or self.months or self.speakers or self.passages)

    def describe(self) -> str:
        parts = [*(sorted(self.years)), *(calendar.month_name[m] for m in sorted(self.months)),
                 *(f"speaker {s}" for s in sorted(self.speakers)),
                 *(f"{b.title()} {a}" + (f"-{z}" if z != a else "")
                   for b, a, z in sorted(self.passages))]
        return ", ".join(parts)


def _speaker_words(chunks: Sequence[Chunk]) -> set[str]:
    return {w for c in chunks for w in _WORD.findall(str((c.metadata or {}).get("speaker",
                                                                                 "")).lower())}


_REF = re.compile(r"^(.+?) (\d+)(?::\d+)?(?:-(\d+)(?::\d+)?)?$")


def passages(refs: frozenset[str]) -> frozenset[tuple[str, int, int]]:
    """(book, first chapter, last chapter) of normalised references (``nlp.scripture_refs``)."""
    out = set()
    for ref in refs:
        m = _REF.match(ref)
        if m:
            first = int(m.group(2))
            out.add((m.group(1), first, int(m.group(3) or first)))
    return frozenset(out)


def _chunk_passages(chunk: Chunk) -> frozenset[tuple[str, int, int]]:
    listed = (chunk.metadata or {}).get("scripture") or []
    return passages(nlp.scripture_refs("; ".join(map(str, listed)) + "\n" + chunk.text))


def filters(facts: nlp.Facts, chunks: Sequence[Chunk]) -> Filters:
    """The filters of a question (``chunks``: what it retrieved, whose speakers it may name)."""
    # a year is a date, or a four-digit number of the last two centuries that spaCy left
    # untagged ("Easter 2018")
    years = frozenset(d for d in facts.dates | facts.numbers if _YEAR.match(d))
    months = frozenset(_MONTHS[d] for d in facts.dates if d in _MONTHS)
    speakers = frozenset(facts.names & _speaker_words(chunks))
    return Filters(years, months if years else frozenset(), speakers,
                   passages(facts.scripture))


def _month(date: str) -> int | None:
    """The month of a stored date, or None for text that names none (a value stored before
    dates were checked must never fail a question)."""
    found = _DATE_MONTH.match(date)
    return int(found.group(1)) if found else None


def _matches(chunk: Chunk, f: Filters) -> bool:
    meta = chunk.metadata or {}
    date = str(meta.get("date") or "")
    if f.years:
        in_text = any(y in chunk.text for y in f.years)
        if not (date[:4] in f.years or in_text):
            return False
        if f.months and not in_text and _month(date) not in f.months:
            return False
    if f.speakers:
        words = set(_WORD.findall(str(meta.get("speaker", "")).lower()))
        if not f.speakers & words:
            return False
    if f.passages:
        held = _chunk_passages(chunk)
        if not any(b == hb and a <= hz and ha <= z for b, a, z in f.passages
                   for hb, ha, hz in held):
            return False
    return True


def matching(chunks: Sequence[Chunk], f: Filters) -> list[Chunk]:
    return [c for c in chunks if _matches(c, f)] if f else list(chunks)
