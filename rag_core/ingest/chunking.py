"""Token-aware chunking of a note, by one of three methods (``RAG_CHUNKING``):

- ``sentences`` (the default): paragraph first, long paragraphs cut into sentences, packed up
  to the token budget with an overlap (below);
- ``heading``: the same packing inside each section of the note (a Markdown heading line starts
  one: the readers write a document's headings so), so that no chunk spans two sections and
  each starts with its section's heading;
- ``window``: windows of ``max_tokens`` tokens over the whole body, each starting
  ``max_tokens - overlap_tokens`` tokens after the one before, at word starts, structure
  ignored.

The ``sentences`` packing, in detail:

Budgets are counted with the real tokenizer (``TokenCounter``).  The packing works on spans of
the note's own text, so a chunk is always an exact slice (or a few paragraph slices joined by a
blank line) of what the user wrote:

1. Paragraphs (separated by blank lines) that fit the budget are units as they are.
2. A paragraph over the budget is cut into sentences; a sentence over the budget is cut at token
   boundaries (at word ends where possible).
   Those token pieces are ``max_tokens - overlap_tokens`` long, to leave room for the overlap.
3. Units are packed greedily up to ``max_tokens``.  Each chunk after the first starts with about
   ``overlap_tokens`` taken from the end of the previous chunk: whole sentences when they fit,
   otherwise the last tokens of the last sentence.  The overlap shrinks when it would push the
   next unit over the budget, so a paragraph that fits the budget is never split.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from rag_core.store.base import ChunkDraft
from rag_core.text.sentences import sentence_spans
from rag_core.tokens import TokenCounter
from rag_core.types import Note

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


@dataclass(frozen=True)
class _Unit:
    """A span ``[start, end)`` of paragraph ``para``."""

    para: int
    start: int
    end: int


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_paragraphs(body: str) -> list[str]:
    return [p.strip() for p in _PARAGRAPH_BREAK.split(body.replace("\r\n", "\n")) if p.strip()]


def _token_pieces(counter: TokenCounter, text: str, start: int, end: int,
                  max_tokens: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into spans of at most ``max_tokens`` tokens each."""
    offsets = [(start + a, start + b) for a, b in counter.spans(text[start:end])]
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(offsets):
        j = min(i + max_tokens, len(offsets))  # candidate: tokens i .. j-1
        if j < len(offsets):
            # back off to a word end so that no word is cut in two, if there is one
            for k in range(j, i + 1, -1):
                if offsets[k][0] > offsets[k - 1][1]:
                    j = k
                    break
        while j > i + 1 and counter.count(text[offsets[i][0]:offsets[j - 1][1]]) > max_tokens:
            j -= 1
        pieces.append((offsets[i][0], offsets[j - 1][1]))
        i = j
    return pieces


class _Packer:
    def __init__(self, paragraphs: list[str], counter: TokenCounter, max_tokens: int,
                 overlap_tokens: int) -> None:
        self.paragraphs = paragraphs
        self.counter = counter
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens

    def render(self, units: list[_Unit]) -> str:
        """Units of one paragraph as one slice; paragraphs joined by a blank line."""
        parts: list[str] = []
        current: _Unit | None = None
        for unit in units:
            if current is not None and unit.para == current.para and unit.start >= current.start:
                current = _Unit(current.para, current.start, max(current.end, unit.end))
                continue
            if current is not None:
                parts.append(self.paragraphs[current.para][current.start:current.end])
            current = unit
        if current is not None:
            parts.append(self.paragraphs[current.para][current.start:current.end])
        return "\n\n".join(parts)

    def tokens(self, units: list[_Unit]) -> int:
        return self.counter.count(self.render(units))

    def units(self) -> list[_Unit]:
        out: list[_Unit] = []
        for index, para in enumerate(self.paragraphs):
            if self.counter.count(para) <= self.max_tokens:
                out.append(_Unit(index, 0, len(para)))
                continue
            for s, e in sentence_spans(para):
                if self.counter.count(para[s:e]) <= self.max_tokens:
                    out.append(_Unit(index, s, e))
                else:
                    # pieces leave room for the overlap, so consecutive pieces share context
                    size = max(1, self.max_tokens - self.overlap_tokens)
                    out.extend(_Unit(index, a, b) for a, b in
                               _token_pieces(self.counter, para, s, e, size))
        return out

    def overlap(self, chunk: list[_Unit]) -> list[_Unit]:
        """About ``overlap_tokens`` from the end of ``chunk``, whole sentences where possible."""
        if self.overlap_tokens <= 0 or not chunk:
            return []
        taken: list[_Unit] = []
        for unit in reversed(chunk):
            text = self.paragraphs[unit.para]
            for s, e in reversed(list(sentence_spans(text, unit.start, unit.end))):
                candidate = [_Unit(unit.para, s, e), *taken]
                if self.tokens(candidate) > self.overlap_tokens:
                    return taken or self._tail(_Unit(unit.para, s, e))
                taken = candidate
        return taken

    def _tail(self, unit: _Unit) -> list[_Unit]:
        """The last ``overlap_tokens`` tokens of one long sentence, starting at a word."""
        text = self.paragraphs[unit.para]
        offsets = [(unit.start + a, unit.start + b)
                   for a, b in self.counter.spans(text[unit.start:unit.end])]
        i = max(0, len(offsets) - self.overlap_tokens)
        while 0 < i < len(offsets) - 1 and offsets[i][0] == offsets[i - 1][1]:
            i += 1  # do not start inside a word
        return [_Unit(unit.para, offsets[i][0], unit.end)] if offsets else []

    def pack(self) -> list[str]:
        chunks: list[list[_Unit]] = []
        current: list[_Unit] = []
        for unit in self.units():
            if self.tokens([*current, unit]) <= self.max_tokens:
                current.append(unit)
                continue
            chunks.append(current)
            lead = self.overlap(current)
            while lead and self.tokens([*lead, unit]) > self.max_tokens:
                lead = lead[1:]
            current = [*lead, unit]
        if current:
            chunks.append(current)
        return [self.render(c) for c in chunks if c]


def chunk_note(note: Note, counter: TokenCounter, max_tokens: int,
               overlap_tokens: int, method: str = "sentences") -> list[ChunkDraft]:
    """The note's body as chunks of at most ``max_tokens`` tokens by ``method`` (see the module
    docstring)."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if overlap_tokens < 0 or overlap_tokens >= max_tokens:
        raise ValueError("overlap_tokens must be at least 0 and smaller than max_tokens")
    if method == "window":
        texts = _windows(counter, note.body.replace("\r\n", "\n").strip(), max_tokens,
                         overlap_tokens)
    elif method == "heading":
        texts = [text for section in _sections(note.body)
                 for text in _Packer(split_paragraphs(section), counter, max_tokens,
                                     overlap_tokens).pack()]
    elif method == "sentences":
        texts = _Packer(split_paragraphs(note.body), counter, max_tokens, overlap_tokens).pack()
    else:
        raise ValueError(f"unknown chunking method {method!r}")
    return [ChunkDraft(ordinal=i, text=text, content_hash=content_hash(text))
            for i, text in enumerate(texts)]


_HEADING_LINE = re.compile(r"^#{1,6}[ \t]+\S", re.M)


def _sections(body: str) -> list[str]:
    """The body cut before each Markdown heading line (text before the first is a section)."""
    body = body.replace("\r\n", "\n")
    starts = [0, *(m.start() for m in _HEADING_LINE.finditer(body) if m.start() > 0)]
    sections = [body[a:b].strip() for a, b in zip(starts, [*starts[1:], len(body)],
                                                    strict=True)]
    return [s for s in sections if s]


def _windows(counter: TokenCounter, text: str, max_tokens: int,
             overlap_tokens: int) -> list[str]:
    """Windows of ``max_tokens`` tokens, a window every ``max_tokens - overlap_tokens``."""
    offsets = counter.spans(text)
    step = max_tokens - overlap_tokens
    windows: list[str] = []
    i = 0
    while i < len(offsets):
        while 0 < i < len(offsets) - 1 and offsets[i][0] == offsets[i - 1][1]:
            i += 1  # do not start inside a word
        j = min(i + max_tokens, len(offsets))
        windows.append(text[offsets[i][0]:offsets[j - 1][1]])
        if j == len(offsets):
            break
        i += step
    return [w for w in windows if w.strip()]


def metadata_header(note: Note) -> str:
    """One line of the note's metadata: title, speaker, series, date, scripture."""
    parts = [f"Title: {note.title}"]
    if note.speaker:
        parts.append(f"Speaker: {note.speaker}")
    if note.series:
        parts.append(f"Series: {note.series}")
    if note.date:
        parts.append(f"Date: {note.date}")
    if note.scripture:
        parts.append("Scripture: " + "; ".join(note.scripture))
    return " | ".join(parts)


def embedding_text(note: Note, chunk_text: str) -> str:
    """What gets embedded: the metadata header, a blank line, then the chunk's plain text.

    The header lets questions about a speaker, a series or a passage find the note; the stored
    ``text`` column keeps only the chunk.
    """
    return f"{metadata_header(note)}\n\n{chunk_text}"
