"""Sentences of a note's text: list items and headings stand alone, wrapped lines are joined, and
abbreviations ("Dr.", "v.", a book before a reference) end no sentence. The extractive
generator picks among them; the semantic rules compare the best of them."""

from __future__ import annotations

import re
from collections.abc import Iterator

_ABBREV = frozenset(re.findall(r"\S+", "dr mr mrs ms st rev fr sr jr vs v vv ch cf eg ie no pp"))
_LIST_MARK = re.compile(r"^\s*(?:[-*+\u2022>]+|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9]|\s*$)")


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


def _is_abbreviation(word: str, after: str) -> bool:
    """"Dr." or "v." or a book before a reference ("Jn. 3:16", "Rom. 8") ends no sentence."""
    bare = word.replace(".", "")
    if bare.lower() in _ABBREV:
        return True
    return bare[:1].isupper() and len(bare) <= 5 and after.lstrip()[:1].isdigit()


def split_sentences(text: str) -> list[str]:
    """Sentences of a note's text; abbreviations such as "Dr." and "v." do not end one."""
    sentences: list[str] = []
    for line in _paragraph_lines(text):
        start = 0
        for match in _END.finditer(line):
            before = line[start:match.start()].split()
            last = before[-1].strip("(\"'") if before else ""
            if match.group(0).startswith(".") and _is_abbreviation(last, line[match.end():]):
                continue
            piece = line[start:match.end()].strip()
            if piece:
                sentences.append(piece)
            start = match.end()
        rest = line[start:].strip()
        if rest:
            sentences.append(rest)
    return sentences
