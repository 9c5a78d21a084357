"""A PDF's text layer (``pypdf``) as the author wrote it, and its title.

Text: each page's lines with the running headers, footers and page numbers kept once, words cut
at a line's end joined, ligatures as letters (``rag_core.ingest.readers.written``); blank-line
paragraphs kept, the lines inside a paragraph joined; table rows as ``cell | cell`` lines
(``rag_core.ingest.readers.pdf_tables``).

Title: the information dictionary's ``/Title``; when it is empty (as in most pdfTeX output), the
first line of the first page when it reads as a title (a few words, not a number, a date or a
sentence), then the outline's first entry; else the folder reader uses the file's name.
"""

from __future__ import annotations

import io
import logging
import re

from rag_core.ingest.readers import written
from rag_core.ingest.readers.budget import Budget
from rag_core.ingest.readers.errors import PDF_CORRUPT, PDF_ENCRYPTED, PDF_NO_TEXT, FileRefused
from rag_core.ingest.readers.pdf_tables import table_rows

_BLANKS = re.compile(r"[ \t\u00a0]+")
_TITLE_WORDS = 12  # at most this many words in a first line taken as the title
_TITLE_CHARS = 120
_NOT_TITLE = re.compile(r"^[\d\W_]+$|^\d{1,4}[-./ ]\d{1,2}[-./ ]\d{1,4}$|[.;:!?,]$")
ROW = "\ue000"  # marks a table row's line until paragraphs are joined


def read_pdf(data: bytes, name: str, budget: Budget | None = None) -> tuple[
        str, str | None, str | None, object]:
    """The body, the title, the author and the creation date of a PDF."""
    import pypdf
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on damaged files: ours
    budget = budget or Budget(name)
    if not data.lstrip()[:5] == b"%PDF-":
        raise FileRefused(PDF_CORRUPT, f"{name}: not a PDF (no %PDF- header)")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileRefused(PDF_ENCRYPTED, f"{name}: the PDF is encrypted with a password; "
                                             "save it without one to ingest it")
        budget.pages(len(reader.pages))
        pages: list[str] = []
        for page in reader.pages:
            text = page.extract_text() or ""
            budget.text(len(text))
            budget.tick()
            rows = table_rows(page, text)
            pages.append(_mark_rows(text, rows))
        info = reader.metadata
        title = clean(info.title) if info else None
        author = clean(info.author) if info else None
        created = info.creation_date if info else None
        outline = _first_outline(reader) if not title else None
    except FileRefused:
        raise
    except PdfReadError as exc:
        if "decrypt" in str(exc).lower() or "password" in str(exc).lower():
            raise FileRefused(PDF_ENCRYPTED, f"{name}: the PDF is encrypted ({exc})") from None
        raise FileRefused(PDF_CORRUPT, f"{name}: the PDF cannot be read ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a parser of untrusted bytes fails in many ways
        raise FileRefused(PDF_CORRUPT, f"{name}: the PDF cannot be read "
                                       f"({type(exc).__name__}: {exc})") from None
    body = body_of(pages)
    if not body.strip():
        raise FileRefused(PDF_NO_TEXT, f"{name}: no text found; OCR is not supported (a "
                                       "scanned PDF has only images of its pages)")
    title = title or first_line_title(pages) or outline
    return body, title, author, created


def body_of(pages: list[str]) -> str:
    """The pages' text as written (see the module)."""
    pages = [written.letters(p).replace("\r\n", "\n") for p in pages]
    lines = [[_BLANKS.sub(" ", line).strip() for line in page.split("\n")] for page in pages]
    kept = written.running_lines([[ln for ln in page if ln] for page in lines])
    # blank lines are paragraph breaks: put them back where running lines did not go
    restored = [_restore_blanks(page, k) for page, k in zip(lines, kept, strict=True)]
    known = written.known_words(pages, written.vocabulary())
    texts = ["\n".join(written.dehyphenate(page, known)) for page in restored]
    return "\n\n".join(_page(text) for text in texts if text.strip())


def _restore_blanks(page: list[str], kept: list[str]) -> list[str]:
    out: list[str] = []
    want = iter(kept)
    current = next(want, None)
    for line in page:
        if not line:
            out.append("")
        elif current is not None and line == current:
            out.append(line)
            current = next(want, None)
    return out


def _page(text: str) -> str:
    """A page's paragraphs (blank-line separated), the lines inside one joined by a space and
    table rows kept on lines of their own."""
    paragraphs = re.split(r"\n[ \t]*\n", text)
    out: list[str] = []
    for paragraph in paragraphs:
        parts: list[str] = []
        for line in paragraph.splitlines():
            if not line.strip():
                continue
            if line.startswith(ROW):
                parts.append("\n" + line[len(ROW):] + "\n")
            else:
                parts.append(line.strip() + " ")
        joined = re.sub(r" *\n+ *", "\n", "".join(parts)).strip()
        if joined:
            out.append(joined)
    return "\n\n".join(out)


def _mark_rows(text: str, rows: dict[str, str]) -> str:
    if not rows:
        return text
    out = []
    for line in text.split("\n"):
        key = " ".join(line.split())
        out.append(ROW + rows[key] if key in rows else line)
    return "\n".join(out)


def first_line_title(pages: list[str]) -> str | None:
    """The first page's first line when it reads as a title (see the module)."""
    first = next((p for p in pages if p.strip()), "")
    line = next((ln.strip() for ln in first.splitlines() if ln.strip()), "")
    line = clean(written.letters(line).replace(ROW, "")) or ""
    if not line or len(line) > _TITLE_CHARS or len(line.split()) > _TITLE_WORDS:
        return None
    if _NOT_TITLE.search(line) or not any(c.isalpha() for c in line):
        return None
    return line


def _first_outline(reader: object) -> str | None:
    try:
        outline = reader.outline  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a damaged outline is no title, not a failure
        return None
    first = next((item for item in outline if isinstance(item, dict)), None)
    return clean(first.get("/Title")) if first is not None else None


def clean(value: object) -> str | None:
    if value is None:
        return None
    text = _BLANKS.sub(" ", str(value)).strip()
    return text or None
