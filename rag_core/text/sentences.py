"""The one sentence splitter of ``rag_core``: chunking cuts long paragraphs at its spans
(``ingest.chunking``), the extractive generator picks among its sentences (``llm.extractive``)
and the semantic rules compare the best of them.

A sentence ends after ``.``, ``!``, ``?`` or ``…`` (and any closing quotes or brackets) when
the next word can open a sentence (a capital or a digit, perhaps after an opening quote or
bracket) or the text ends, and at a line break. A full stop after an abbreviation ends none:
a word of ``ABBREVIATIONS`` ("Dr.", "v.", "e.g."), or a short capitalised word before a
number, a book before a reference ("Jn. 3:16", "Rom. 8").

``split_sentences`` reads a note's text as logical lines first (list items and headings stand
alone, hard-wrapped lines are joined), then splits each line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Abbreviations that a full stop follows inside a sentence, written without their dots: titles,
# Latin and reference words, and the usual short forms of the books of the Bible.
ABBREVIATIONS = frozenset(re.findall(r"\S+", """
    dr mr mrs ms st rev fr sr jr prof vs v vv cf ch chap eg ie etc no pp vol
    ps gen ex lev num deut matt mk lk jn rom cor gal eph phil col thess tim heb jas pet
"""))
_LIST_MARK = re.compile(r"^\s*(?:[-*+\u2022>]+|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*"
                  r"(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9]|\s*$)|\n")
_LAST_WORD = re.compile(r"([A-Za-z.]+)$")


def is_abbreviation(word: str, after: str) -> bool:
    """Whether a full stop after ``word``, followed by ``after``, belongs to an abbreviation."""
    bare = word.replace(".", "")
    if bare.lower() in ABBREVIATIONS:
        return True
    return bare[:1].isupper() and len(bare) <= 5 and after.lstrip()[:1].isdigit()


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Sentences of ``text[start:end]`` as spans of absolute offsets, whitespace trimmed."""
    end = len(text) if end is None else end
    begin = start
    for match in _END.finditer(text, start, end):
        if text[match.start()] == ".":
            word = _LAST_WORD.search(text, begin, match.start())
            if word is not None and is_abbreviation(word.group(1), text[match.end():end]):
                continue
        yield from _trimmed(text, begin, match.end())
        begin = match.end()
    yield from _trimmed(text, begin, end)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def _paragraph_lines(text: str) -> Iterator[str]:
    """Logical lines: list items and headings stand alone, wrapped lines are joined."""
    for paragraph in re.split(r"\n\s*\n", text):
        current: list[str] = []
        for raw in paragraph.splitlines():
            if not raw.strip():
                continue
            if _LIST_MARK.match(raw) or _HEADING.match(raw):
                if current:
                    yield " ".join(current)
                current = [] if _HEADING.match(raw) else [_LIST_MARK.sub("", raw).strip()]
                continue
            current.append(raw.strip())
        if current:
            yield " ".join(current)


def split_sentences(text: str) -> list[str]:
    """Sentences of a note's text, by logical line; abbreviations such as "Dr." and "v." end
    none."""
    return [line[s:e] for line in _paragraph_lines(text) for s, e in sentence_spans(line)]
