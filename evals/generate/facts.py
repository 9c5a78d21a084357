"""What a user's library says and what it never says, read from the notes themselves.

A word is *rare* in a note when no other note of the same library holds it: a query made of a
note's rare words has that note, and only it, as its answer. Absence is always checked against
the whole text of the notes (bodies and front matter), never guessed.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date

from rag_core.types import Note

WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
# a figure stands alone: one joined to a word by a hyphen is part of a code or a name
# ("BLUEJAY-3318"), not a quantity the sentence gives
FIGURE = re.compile(r"(?<![\w.-])(\d[\d,]*(?:\.\d+)?)(?:\s+([A-Za-z][A-Za-z-]+))?")
YEAR = re.compile(r"\b(1[6-9]\d\d|20\d\d)\b")
CLOCK = re.compile(r"\b\d{1,2}(?::\d\d)?\s*(?:a\.?m\.?|p\.?m\.?)\b|\b\d{1,2}:\d\d\b|o'clock",
                   re.IGNORECASE)
MONEY = re.compile(r"[$£€¥]\s*\d|\b\d[\d,.]*\s*(?:dollars?|pounds?|euros?|usd|eur|gbp)\b",
                   re.IGNORECASE)
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z.'-]*(?: [A-Za-z][A-Za-z.'-]*)*")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
# a run of capitalised words (a name), apostrophes and hyphens inside; "'s" is not part of it
NAME = re.compile(r"\b[A-Z][a-z]+(?:[-'][A-Za-z]+)*(?:\s+[A-Z][a-z]+(?:[-'][A-Za-z]+)*)*")


def text_of(note: Note) -> str:
    """Everything a note says: its front matter and its body."""
    meta = [note.title, note.date or "", note.speaker or "", note.series or "",
            *note.tags, *note.scripture]
    return "\n".join([*meta, note.body])


def squash(text: object) -> str:
    """Case and runs of whitespace aside: how a text is looked for in a note."""
    return " ".join(str(text).casefold().split())


def words(text: str) -> list[str]:
    return [w.casefold() for w in WORD.findall(text)]


def sentences(body: str) -> list[str]:
    out = []
    for paragraph in body.split("\n"):
        out += [s.strip() for s in SENTENCE_END.split(paragraph) if len(s.split()) >= 6]
    return out


@dataclass
class Library:
    """One user's notes, with the words each note holds."""

    user: str
    notes: list[Note]

    def __post_init__(self) -> None:
        self.texts = {n.id: text_of(n) for n in self.notes}
        self.vocab = {nid: set(words(t)) for nid, t in self.texts.items()}
        self.spread = Counter(w for v in self.vocab.values() for w in v)

    def rare_words(self, note_id: str, sentence: str, limit: int = 4) -> list[str]:
        """The sentence's words that no other note of the library holds, in order."""
        seen: list[str] = []
        for word in words(sentence):
            if self.spread[word] == 1 and word in self.vocab[note_id] and word not in seen:
                seen.append(word)
        return seen[:limit]

    def says(self, text: str) -> bool:
        """Whether any note holds ``text`` (case and runs of whitespace aside)."""
        wanted = squash(text)
        return any(wanted in squash(t) for t in self.texts.values())

    def absent(self, fact: str) -> bool:
        """Whether no note holds a fact: a name counts as held when a note holds it or its last
        word (a surname alone still points at the person)."""
        return not self.says(fact) and not (" " in fact and self.says(fact.split()[-1]))

    def speakers(self) -> list[str]:
        """The speakers whose field holds a name (``plain_name``)."""
        return sorted({n.speaker for n in self.notes if n.speaker and plain_name(n.speaker)})


def plain_name(value: str) -> bool:
    """Whether a front-matter field reads as a person's name: a few words of letters, with
    the stops, hyphens and apostrophes names carry (a field holding anything else, a sentence
    addressed to the assistant, is not asked about nor asserted)."""
    return bool(_PLAIN_NAME.fullmatch(value)) and len(value.split()) <= 6


def named_facts(question: str) -> list[str]:
    """The facts a question names, in order: its years, its other figures and its names (runs
    of capitalised words; the question's first word, capitalised by position, is not one)."""
    found = YEAR.findall(question)
    found += [m.group(1) for m in FIGURE.finditer(question) if not YEAR.fullmatch(m.group(1))]
    for match in NAME.finditer(question):
        name = match.group(0)
        if match.start() == len(question) - len(question.lstrip()):  # the first word
            name = name.partition(" ")[2]
        name = name.removesuffix("'s")
        if len(name) >= 2:
            found.append(name)
    return list(dict.fromkeys(found))


def figure_in(sentence: str) -> tuple[str, str] | None:
    """The first figure of a sentence and the word after it (``("1,900", "pounds")``); a year
    is not a figure."""
    for match in FIGURE.finditer(sentence):
        if not YEAR.fullmatch(match.group(1)):
            return match.group(1), match.group(2) or ""
    return None


def long_date(value: str | None) -> str | None:
    """``2025-03-04`` -> ``March 4, 2025`` (None when it is not an ISO date)."""
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        return None
    return f"{day.strftime('%B')} {day.day}, {day.year}"


def absent_year(lib: Library) -> int | None:
    """The latest year before the library's first note (by date; else before the earliest year
    its notes mention) that no note of the library mentions: a year near it that it never
    speaks of."""
    years = {int(n.date[:4]) for n in lib.notes if n.date and YEAR.fullmatch(n.date[:4])}
    years = years or {int(y) for t in lib.texts.values() for y in YEAR.findall(t)}
    if not years:
        return None
    year = min(years) - 1
    while any(str(year) in t for t in lib.texts.values()):
        year -= 1
    return year
