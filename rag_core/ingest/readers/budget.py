"""What one document may cost to read: limits that no real document meets, each checked while
the document is read, so that a file made to hurt (a page nested a thousand deep, an element
with a hundred thousand attributes, a Word file of millions of empty paragraphs) costs bounded
time and memory and is refused with ``DOCUMENT_TOO_COMPLEX`` naming the limit, and the rest of
the folder is read.

Where real documents sit (measured on the corpus in ``tests/corpus/`` and other Debian HTML
manuals; ``docs/evaluate-your-data.md`` has the figures): HTML pages nest 5-24 elements deep,
hold 44-1,619 elements and at most 6 attributes on one element; the 36-page pdfTeX manual gives
70,000 characters of text in about a second of CPU. The limits sit one to three orders of
magnitude above.

The clock is a parameter, so a test decides when time runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rag_core.ingest.readers.errors import DOCUMENT_TOO_COMPLEX, FileRefused

MAX_DEPTH = 512  # elements nested in one another (HTML, the XML of a Word file)
MAX_ELEMENTS = 2_000_000  # elements of one HTML page or one Word file's document part
MAX_ATTRIBUTES = 1_000  # attributes of one HTML element (the parser's cost grows as their square)
MAX_PAGES = 5_000  # pages of one PDF
MAX_TEXT_CHARS = 20_000_000  # characters of text read out of one document
MAX_SECONDS = 60.0  # time spent reading one document


@dataclass
class Budget:
    """The limits for reading one document ``name``, and what it has spent so far."""

    name: str
    clock: Callable[[], float] = time.monotonic
    max_depth: int = MAX_DEPTH
    max_elements: int = MAX_ELEMENTS
    max_attributes: int = MAX_ATTRIBUTES
    max_pages: int = MAX_PAGES
    max_text_chars: int = MAX_TEXT_CHARS
    max_seconds: float = MAX_SECONDS
    elements: int = 0
    text_chars: int = 0
    _start: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._start = self.clock()

    def refuse(self, what: str) -> FileRefused:
        return FileRefused(DOCUMENT_TOO_COMPLEX, f"{self.name}: {what}; not read (a limit no "
                                                 "real document meets)")

    def depth(self, depth: int) -> None:
        if depth > self.max_depth:
            raise self.refuse(f"elements nested more than {self.max_depth} deep")

    def element(self, count: int = 1) -> None:
        """``count`` more elements read; the time is checked every 4,096 of them."""
        before = self.elements
        self.elements += count
        if self.elements > self.max_elements:
            raise self.refuse(f"more than {self.max_elements:,} elements")
        if before >> 12 != self.elements >> 12:
            self.tick()

    def attributes(self, count: int) -> None:
        if count > self.max_attributes:
            raise self.refuse(f"an element with {count:,} attributes (at most "
                              f"{self.max_attributes:,})")

    def pages(self, count: int) -> None:
        if count > self.max_pages:
            raise self.refuse(f"{count:,} pages (at most {self.max_pages:,})")

    def text(self, chars: int) -> None:
        self.text_chars += chars
        if self.text_chars > self.max_text_chars:
            raise self.refuse(f"more than {self.max_text_chars:,} characters of text")

    def tick(self) -> None:
        spent = self.clock() - self._start
        if spent > self.max_seconds:
            raise self.refuse(f"still being read after {spent:.0f} s (at most "
                              f"{self.max_seconds:.0f} s)")
