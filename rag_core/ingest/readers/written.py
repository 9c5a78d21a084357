"""Text as its author wrote it, out of text laid out on pages: words hyphenated at a line's end
joined again, ligatures written as their letters, and the lines a page repeats on every page
(a running header, a footer, a page number) kept once.

- Ligatures and presentation forms: the characters of the Alphabetic Presentation Forms block
  (U+FB00-FB4F: "ﬁ", "ﬂ", "ﬃ", the Hebrew and Armenian forms) become their compatibility
  letters, and a soft hyphen (U+00AD, an invisible break opportunity) is deleted. Every reader
  applies it.
- Hyphenation (``dehyphenate``): a line that ends in a letter and ``-`` followed by a line that
  starts with a letter is one word cut by the typesetter when the joined form (case aside)
  occurs elsewhere in the document or in the embedding model's WordPiece vocabulary (the only
  word list the project ships: ``rag_core.embedding.base.model_words``); otherwise it is a real
  compound and keeps its hyphen, without the line's break ("YYMMDDhhmm-hh"). So "iden- tifier"
  is "identifier" (the manual writes it elsewhere) and "OP- TIONAL" is "OPTIONAL" (in the
  vocabulary).
- Running lines (``running_lines``): the first or the last line of a page when it appears in
  the same place on the page before or after it (or two pages away, as the left and
  right pages of a printed book alternate), digits aside (a page number changes), is kept where
  it first appears and dropped from every later page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from rag_core.config import Embedding
from rag_core.embedding.base import model_words

_FORMS = {c: None for c in (0x00AD,)}
_BROKEN = re.compile(r"([^\W\d_][\w]*)-$")
_CONTINUED = re.compile(r"^([^\W\d_][\w]*)")
_WORD = re.compile(r"[^\W\d_]+")
_DIGITS = re.compile(r"\d+")
_EDGE = 1  # lines at the top and at the bottom of a page where running lines stand


def _presentation_forms() -> dict[int, str | None]:
    import unicodedata

    table: dict[int, str | None] = dict(_FORMS)
    for code in range(0xFB00, 0xFB50):
        char = chr(code)
        folded = unicodedata.normalize("NFKC", char)
        if folded != char:
            table[code] = folded
    return table


_TABLE = _presentation_forms()


def letters(text: str) -> str:
    """Ligatures and presentation forms as their letters, soft hyphens deleted."""
    return text.translate(_TABLE)


def vocabulary() -> frozenset[str]:
    """The default embedding model's whole words (empty when it is not installed)."""
    return model_words(Embedding().embedding_model)


def dehyphenate(lines: list[str], known: Callable[[str], bool]) -> list[str]:
    """``lines`` with each word cut at a line's end joined when ``known(joined)`` says the
    joined form is a word; else kept with its hyphen, the two parts on one line."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        while i + 1 < len(lines):
            end = _BROKEN.search(line)
            start = _CONTINUED.match(lines[i + 1].lstrip())
            if end is None or start is None:
                break
            rest = lines[i + 1].lstrip()
            joined = end.group(1) + start.group(1)
            glue = "" if known(joined.lower()) else "-"
            head, _, tail = rest.partition(" ")
            line = line[:-1] + glue + head
            if not tail:  # the continued line was one word: the next line may be cut too
                i += 1
                continue
            lines = [*lines[: i + 1], tail, *lines[i + 2:]]
            break
        out.append(line)
        i += 1
    return out


def known_words(pages: Iterable[str], extra: frozenset[str]) -> Callable[[str], bool]:
    """Whether a word (lower case) is written in ``pages`` or is in ``extra``."""
    written = {w.lower() for page in pages for w in _WORD.findall(page)}
    return lambda word: word in written or word in extra


def running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Each page's lines without the running lines already kept on an earlier page."""
    keys = [_edge_keys(lines) for lines in pages]
    seen: set[tuple[int, str]] = set()
    out: list[list[str]] = []
    for n, lines in enumerate(pages):
        kept: list[str] = []
        for index, line in enumerate(lines):
            key = _key(index, len(lines), line)
            repeated = key is not None and any(
                0 <= m < len(pages) and m != n and key in keys[m] for m in (n - 2, n - 1,
                                                                             n + 1, n + 2))
            if repeated and key in seen:
                continue
            if repeated and key is not None:
                seen.add(key)
            kept.append(line)
        out.append(kept)
    return out


def _edge_keys(lines: list[str]) -> set[tuple[int, str]]:
    found = {_key(i, len(lines), line) for i, line in enumerate(lines)}
    return {k for k in found if k is not None}


def _key(index: int, count: int, line: str) -> tuple[int, str] | None:
    """Where a line stands (from the top, or from the bottom as a negative number) with its
    text, digits and spacing aside; None for a line inside the page."""
    text = " ".join(_DIGITS.sub("#", line).split())
    if not text:
        return None
    if index < _EDGE:
        return index, text
    if count - index <= _EDGE:
        return index - count, text
    return None
