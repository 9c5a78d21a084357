"""Text and fields out of documents: PDF (``pdf``), Word (``word``), HTML (``html``) and plain
text, each read under the limits of ``budget`` (a limit exhausted: ``DOCUMENT_TOO_COMPLEX``).

Each reader takes the file's bytes and gives a ``Draft``: the fields the document itself holds
(title, date, author, tags) and its text, with headings written as Markdown headings
(``## ...``) so that chunking by heading sees the document's structure. The fields are derived,
never typed by the user, so they are fitted to a note's rules rather than refusing it
(``derived``). What the document does not say is filled in by the folder reader
(``rag_core.ingest.readers.folder``): the file's name as title, the file's date, the folder as
series.

What cannot be read raises ``FileRefused`` with a code: an encrypted PDF (``PDF_ENCRYPTED``), a
PDF without a text layer (``PDF_NO_TEXT``: OCR is not supported), a PDF or DOCX that does not
parse (``PDF_CORRUPT``, ``DOCX_CORRUPT``), a DOCX whose parts would expand past
``MAX_EXPANDED_BYTES`` or ``MAX_RATIO`` times their packed size (``ZIP_BOMB``, checked from the
zip's directory before anything is expanded), a document past a reading limit
(``DOCUMENT_TOO_COMPLEX``).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

from rag_core.ingest.readers import derived, html, pdf, word, written
from rag_core.ingest.readers.budget import Budget
from rag_core.ingest.readers.draft import Draft
from rag_core.ingest.readers.errors import DOCX_CORRUPT, NOT_UTF8, ZIP_BOMB, FileRefused

MAX_EXPANDED_BYTES = 64 * 1024 * 1024  # what the parts of one DOCX may expand to, in all
MAX_RATIO = 200  # expanded / packed size of a DOCX's parts (text compresses about 10x)
MAX_PARTS = 2_000  # entries in one DOCX's zip


def read_text(data: bytes, name: str, budget: Budget | None = None) -> Draft:
    """Plain text, UTF-8 (a byte-order mark is dropped)."""
    text = decode_utf8(data, name)
    (budget or Budget(name)).text(len(text))
    return Draft(body=text)


def decode_utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(NOT_UTF8, f"{name}: not UTF-8 text ({exc.reason} at byte "
                                    f"{exc.start})") from None


def read_pdf(data: bytes, name: str, budget: Budget | None = None) -> Draft:
    """The text layer as written, the title, author and creation date (``pdf``)."""
    body, title, author, created = pdf.read_pdf(data, name, budget)
    return derived.fit(Draft(body=body, title=title, author=author, date=_day(created)))


def check_zip(data: bytes, name: str, corrupt: str) -> None:
    """``ZIP_BOMB`` when the zip's parts would expand past the limits, ``corrupt`` when it is
    not a zip at all: read from its directory, nothing expanded."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise FileRefused(corrupt, f"{name}: not a readable Word document ({exc})") from None
    expanded = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if len(infos) > MAX_PARTS or expanded > MAX_EXPANDED_BYTES or \
            (expanded > 1024 * 1024 and expanded / packed > MAX_RATIO):
        raise FileRefused(ZIP_BOMB, f"{name}: its {len(infos):,} parts would expand to "
                                    f"{expanded:,} bytes from {packed:,} (at most "
                                    f"{MAX_EXPANDED_BYTES:,} bytes, {MAX_RATIO}x, "
                                    f"{MAX_PARTS:,} parts); not expanded")


def read_docx(data: bytes, name: str, budget: Budget | None = None) -> Draft:
    """Paragraphs and tables in document order, headings as Markdown headings; the core
    properties' title (else the ``Title`` paragraph, else the first heading), author and
    creation date (``word``)."""
    check_zip(data, name, DOCX_CORRUPT)
    body, title, author, created = word.read_word(data, name, budget)
    return derived.fit(Draft(body=written.letters(body), title=title, author=author,
                             date=created))


def read_html(data: bytes, name: str, budget: Budget | None = None) -> Draft:
    """The page's main content without what its readers never see; the title from
    ``<title>`` (else the first ``<h1>``), author and date from ``<meta>``, the keywords as
    tags (``html``)."""
    found = html.read_html(data, name, budget)
    keywords = found.get("keywords")
    tags = [t.strip() for t in str(keywords).split(",") if t.strip()] if keywords else []
    return derived.fit(Draft(body=str(found["body"]), title=_str(found["title"]),
                             author=_str(found["author"]), date=_str(found["date"]),
                             tags=tags))


# --- helpers --------------------------------------------------------------------------------


def _str(value: object) -> str | None:
    return str(value) if value else None


def _day(value: object) -> str | None:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return None
