"""Text and fields out of documents: PDF (``pypdf``), Word (``python-docx``), HTML
(``selectolax``'s lexbor parser) and plain text.

Each reader takes the file's bytes and gives a ``Draft``: the fields the document itself holds
(title, date, author) and its text, with headings written as Markdown headings (``## ...``) so
that chunking by heading sees the document's structure. What the document does not say is
filled in by the folder reader (``rag_core.ingest.readers.folder``): the file's name as title,
the file's date, the folder as series.

What cannot be read raises ``FileRefused`` with a code: an encrypted PDF (``PDF_ENCRYPTED``), a
PDF without a text layer (``PDF_NO_TEXT``: OCR is not supported), a PDF or DOCX that does not
parse (``PDF_CORRUPT``, ``DOCX_CORRUPT``), a DOCX whose parts would expand past
``MAX_EXPANDED_BYTES`` or ``MAX_RATIO`` times their packed size (``ZIP_BOMB``, checked from the
zip's directory before anything is expanded).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import zipfile
from dataclasses import dataclass, field

from rag_core.ingest.readers.errors import (
    DOCX_CORRUPT,
    NOT_UTF8,
    PDF_CORRUPT,
    PDF_ENCRYPTED,
    PDF_NO_TEXT,
    ZIP_BOMB,
    FileRefused,
)

MAX_EXPANDED_BYTES = 64 * 1024 * 1024  # what the parts of one DOCX may expand to, in all
MAX_RATIO = 200  # expanded / packed size of a DOCX's parts (text compresses about 10x)
MAX_PARTS = 2_000  # entries in one DOCX's zip
_HEADING_STYLE = re.compile(r"heading\s*(\d)", re.I)
_BLANKS = re.compile(r"[ \t\u00a0]+")
# HTML elements that are not the page's content: navigation, banners, scripts, forms
_NOT_CONTENT = ("nav", "header", "footer", "aside", "script", "style", "noscript", "form",
                "template", "svg", "iframe", "button")
_BLOCKS = frozenset(("p", "div", "section", "article", "main", "li", "ul", "ol", "pre",
                     "blockquote", "table", "tr", "td", "th", "dl", "dt", "dd", "figure",
                     "figcaption", "br", "hr", "tbody", "thead", "details", "summary"))
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


@dataclass
class Draft:
    """What one document gives: its own fields (None when it does not say) and its text."""

    body: str
    title: str | None = None
    date: str | None = None
    author: str | None = None
    tags: list[str] = field(default_factory=list)


def read_text(data: bytes, name: str) -> Draft:
    """Plain text, UTF-8 (a byte-order mark is dropped)."""
    return Draft(body=decode_utf8(data, name))


def decode_utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(NOT_UTF8, f"{name}: not UTF-8 text ({exc.reason} at byte "
                                    f"{exc.start})") from None


# --- PDF ------------------------------------------------------------------------------------


def read_pdf(data: bytes, name: str) -> Draft:
    """The text layer of every page, a blank line between pages; the document's title, author
    and creation date from its information dictionary."""
    import pypdf
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on damaged files: ours

    if not data.lstrip()[:5] == b"%PDF-":
        raise FileRefused(PDF_CORRUPT, f"{name}: not a PDF (no %PDF- header)")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileRefused(PDF_ENCRYPTED, f"{name}: the PDF is encrypted with a password; "
                                             "save it without one to ingest it")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        title = _clean(info.title) if info else None
        author = _clean(info.author) if info else None
        created = info.creation_date if info else None
    except FileRefused:
        raise
    except PdfReadError as exc:
        if "decrypt" in str(exc).lower() or "password" in str(exc).lower():
            raise FileRefused(PDF_ENCRYPTED, f"{name}: the PDF is encrypted ({exc})") from None
        raise FileRefused(PDF_CORRUPT, f"{name}: the PDF cannot be read ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a parser of untrusted bytes fails in many ways
        raise FileRefused(PDF_CORRUPT, f"{name}: the PDF cannot be read "
                                       f"({type(exc).__name__}: {exc})") from None
    body = "\n\n".join(_pdf_page(text) for text in pages if text.strip())
    if not body.strip():
        raise FileRefused(PDF_NO_TEXT, f"{name}: no text found; OCR is not supported (a "
                                       "scanned PDF has only images of its pages)")
    return Draft(body=body, title=title, author=author, date=_day(created))


def _pdf_page(text: str) -> str:
    """A page's lines: blank-line paragraphs kept, lines inside a paragraph joined."""
    paragraphs = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))
    return "\n\n".join(" ".join(_BLANKS.sub(" ", line).strip() for line in p.splitlines()
                                if line.strip()) for p in paragraphs if p.strip())


# --- Word -----------------------------------------------------------------------------------


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


def read_docx(data: bytes, name: str) -> Draft:
    """Paragraphs in order, ``Heading N`` styles as Markdown headings, table rows as lines of
    cells; the core properties' title, author and creation date."""
    check_zip(data, name, DOCX_CORRUPT)
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        props = document.core_properties
        lines: list[str] = []
        title_style: str | None = None
        for paragraph in document.paragraphs:
            text = _BLANKS.sub(" ", paragraph.text).strip()
            if not text:
                continue
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            level = _HEADING_STYLE.match(style)
            if style.lower() == "title" and title_style is None:
                title_style = text
            elif level:
                lines.append("#" * min(6, int(level.group(1)) + 1) + " " + text)
            else:
                lines.append(text)
        for table in document.tables:
            for row in table.rows:
                cells = [_BLANKS.sub(" ", c.text).strip() for c in row.cells]
                if any(cells):
                    lines.append(" | ".join(cells))
        title = _clean(props.title) or title_style
        author = _clean(props.author)
        created = props.created
    except FileRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - a parser of untrusted bytes fails in many ways
        raise FileRefused(DOCX_CORRUPT, f"{name}: the Word document cannot be read "
                                        f"({type(exc).__name__}: {exc})") from None
    return Draft(body="\n\n".join(lines), title=title, author=author, date=_day(created))


# --- HTML -----------------------------------------------------------------------------------


def read_html(data: bytes, name: str) -> Draft:
    """The page's main content: ``<article>`` or ``<main>`` (or ``role=main``), else the body
    without navigation, header, footer, scripts and forms; headings as Markdown headings. The
    title from ``<title>`` (else the first ``<h1>``), author and date from ``<meta>``."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(data.decode("utf-8", errors="replace"))
    title_node = tree.css_first("title") or tree.css_first("h1")
    title = _clean(title_node.text()) if title_node is not None else None
    author = _meta(tree, "author", "article:author", "dc.creator")
    date = _meta(tree, "date", "article:published_time", "dc.date", "dcterms.created")
    if date is None:
        stamp = tree.css_first("time[datetime]")
        date = _clean(stamp.attributes.get("datetime")) if stamp is not None else None
    keywords = _meta(tree, "keywords")
    for selector in _NOT_CONTENT:
        for node in tree.css(selector):
            node.decompose()
    main = tree.css_first("article") or tree.css_first("main") or \
        tree.css_first("[role=main]") or tree.body
    lines: list[str] = []
    if main is not None:
        _walk(main, lines, [])
    body = "\n\n".join(line for line in lines if line)
    tags = [t.strip() for t in keywords.split(",") if t.strip()] if keywords else []
    return Draft(body=body, title=title, author=author, date=date, tags=tags)


def _meta(tree: object, *names: str) -> str | None:
    for wanted in names:
        for attr in ("name", "property"):
            node = tree.css_first(f'meta[{attr}="{wanted}"]')  # type: ignore[attr-defined]
            if node is not None and node.attributes.get("content"):
                return _clean(node.attributes["content"])
    return None


def _walk(node: object, lines: list[str], inline: list[str]) -> None:
    """Blocks of ``node`` as lines: text inside a block joined, headings marked."""
    for child in node.iter(include_text=True):  # type: ignore[attr-defined]
        tag = child.tag
        if tag == "-text":
            inline.append(child.text_content or "")
        elif tag in _HEADINGS:
            _flush(lines, inline)
            text = _BLANKS.sub(" ", child.text(separator=" ")).strip()
            if text:
                lines.append("#" * _HEADINGS[tag] + " " + text)
        elif tag in _BLOCKS:
            _flush(lines, inline)
            _walk(child, lines, inline)
            _flush(lines, inline)
        else:
            _walk(child, lines, inline)


def _flush(lines: list[str], inline: list[str]) -> None:
    text = _BLANKS.sub(" ", " ".join("".join(inline).split())).strip()
    if text:
        lines.append(text)
    inline.clear()


# --- helpers --------------------------------------------------------------------------------


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = _BLANKS.sub(" ", str(value)).strip()
    return text or None


def _day(value: object) -> str | None:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return None
