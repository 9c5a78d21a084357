"""One file's bytes into notes, by its kind: Markdown (plain, Obsidian, Notion), plain text,
PDF, Word, HTML, JSON lines.

The kind comes from the suffix, checked against the content where the format has a signature
(a ``.pdf`` must start with ``%PDF-``, a ``.docx`` is a zip); a file without a suffix is read
as a PDF, a DOCX or HTML when its first bytes say so, else as Markdown.

Fields are found in this order (the first that gives one wins):

- title: front matter, the document's title property, ``<title>``, the first heading (a PDF's
  first line when it reads as a title, then its outline), the file's name;
- date: front matter, the document's properties (a Notion page's ``Date``), the file's date
  (for PDF, Word, HTML and text, which have no place to write one by hand);
- speaker: front matter, the document's author;
- tags: front matter, Obsidian ``#tags``, an HTML page's keywords (a derived value that
  breaks a field's rules is dropped or shortened, never refuses the note: ``derived``);
- series: front matter, a Notion database's property, the folder the file is in.

The id is the front matter's, else one derived from the path relative to the folder read
(``rel_id``), so the same file keeps its id from one run to the next.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from rag_core.errors import InvalidNote
from rag_core.ingest.fields import LIMITS, normal_date
from rag_core.ingest.notes import build_note, note_from_record
from rag_core.ingest.readers import documents, markdown
from rag_core.ingest.readers.errors import DOCUMENT_TOO_COMPLEX, UNKNOWN_TYPE, FileRefused
from rag_core.ingest.readers.markdown import split_markdown
from rag_core.types import Note

KINDS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text",
         ".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html",
         ".jsonl": "jsonl", ".ndjson": "jsonl"}
log = logging.getLogger("rag_core.ingest")
_SLUG = re.compile(r"[^a-z0-9._-]+")  # the ids' alphabet (``rag_core.ingest.notes``)


@dataclass(frozen=True)
class Origin:
    """Where bytes came from: the path relative to the folder read (the file name alone for
    a single file or a request body), and the file's modification time (None: unknown)."""

    rel: PurePosixPath
    modified: float | None = None
    # a request body's note id: the note has this id whatever the file says
    note_id: str | None = None
    where: str = ""  # how messages name the file (default: ``rel``)

    @property
    def name(self) -> str:
        return self.where or str(self.rel)


@dataclass(frozen=True)
class LineFailure:
    """A line of a JSON-lines file that is not a valid note (the other lines are read)."""

    line: int
    error: InvalidNote


def kind_of(name: str, data: bytes) -> str:
    """The reader for ``name`` with these first bytes, or ``FileRefused(UNKNOWN_TYPE)``."""
    suffix = PurePosixPath(name).suffix.lower()
    kind = KINDS.get(suffix)
    if kind is not None:
        return kind
    if not suffix or suffix.strip(".").isdigit():
        head = data[:512].lstrip().lower()
        if head.startswith(b"%pdf-"):
            return "pdf"
        if head.startswith(b"pk\x03\x04"):
            return "docx"
        if head.startswith((b"<!doctype html", b"<html")):
            return "html"
        return "markdown"
    raise FileRefused(UNKNOWN_TYPE, f"{name}: unknown type {suffix!r}; the readers take "
                                    + ", ".join(sorted(KINDS)))


def rel_id(rel: PurePosixPath) -> str:
    """A stable note id from a path relative to its folder: each part in the ids' alphabet
    (lower case, ``-`` for anything else), joined by ``--``; a Notion export's hex ids kept
    (they tell apart pages of one title)."""
    parts = [*rel.parts[:-1], rel.stem]
    return "--".join(_SLUG.sub("-", p.lower()).strip("-") or "note" for p in parts)


def read_bytes(data: bytes, origin: Origin, kind: str | None = None,
               dropped: list[str] | None = None) -> tuple[list[Note], list[LineFailure]]:
    """The notes of one file (every line of a JSON-lines file that is valid, and the lines
    that are not); any other problem raises ``InvalidNote`` (``FileRefused`` for the file as
    a whole). What fitting a document's derived fields dropped is added to ``dropped`` and
    logged, once for the file."""
    name = origin.name
    kind = kind or kind_of(name, data)
    if kind == "jsonl":
        return _jsonl(data, origin)
    if kind == "markdown":
        return [_markdown(data, origin)], []
    reader = {"text": documents.read_text, "pdf": documents.read_pdf,
              "docx": documents.read_docx, "html": documents.read_html}[kind]
    try:
        draft = reader(data, name)
    except RecursionError:  # a structure deeper than any limit foresaw: still this file's error
        raise FileRefused(DOCUMENT_TOO_COMPLEX, f"{name}: nested too deep to read") from None
    if draft.dropped:
        log.info("derived fields fitted", extra={"file": name, "dropped": draft.dropped})
        if dropped is not None:
            dropped.extend(draft.dropped)
    date = draft.date if draft.date and normal_date(draft.date) else None
    meta: dict[str, object] = {
        "id": origin.note_id, "title": draft.title or _file_title(origin.rel),
        "date": date or _file_date(origin.modified), "speaker": draft.author,
        "series": _folder_series(origin.rel), "tags": draft.tags or None,
    }
    return [build_note(meta, draft.body, name, default_id=rel_id(origin.rel))], []


def _markdown(data: bytes, origin: Origin) -> Note:
    name = origin.name
    text = documents.decode_utf8(data, name)
    meta, body, body_line = split_markdown(text, name)
    if markdown.is_notion_page(origin.rel.stem):
        found, body = markdown.notion_properties(body)
        meta = {**found, **meta}
    tags = markdown.inline_tags(body)
    meta["tags"] = markdown.merge_tags(meta.get("tags"), tags)
    body = markdown.plain_links(body)
    if not meta.get("title"):
        meta["title"] = _file_title(origin.rel)
    if not meta.get("series"):
        meta["series"] = _folder_series(origin.rel)
    if origin.note_id is not None:
        _same_id(meta.get("id"), origin.note_id, name)
        meta["id"] = origin.note_id
    return build_note(meta, body, name, default_id=rel_id(origin.rel), body_line=body_line)


def _jsonl(data: bytes, origin: Origin) -> tuple[list[Note], list[LineFailure]]:
    name = origin.name
    text = documents.decode_utf8(data, name)
    notes: list[Note] = []
    failures: list[LineFailure] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            notes.append(_json_line(line, name, number, origin))
        except InvalidNote as exc:
            failures.append(LineFailure(number, exc))
    return notes, failures


def _json_line(line: str, name: str, number: int, origin: Origin) -> Note:
    where = f"{name}:{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidNote(f"{where}: bad JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(record, dict):
        raise InvalidNote(f"{where}: each line must be a JSON object")
    return note_from_record(record, name, line=number,
                            default_id=f"{rel_id(origin.rel)}-{number}")


def _same_id(given: object, note_id: str, name: str) -> None:
    if given is not None and str(given).strip() != note_id:
        raise InvalidNote(f"{name}: the file's id {given!r} is not the path's {note_id!r}.")


def _file_title(rel: PurePosixPath) -> str:
    stem = markdown.strip_notion_id(rel.stem)
    return " ".join(stem.replace("_", " ").split()) or rel.name


def _file_date(modified: float | None) -> str | None:
    if modified is None:
        return None
    return dt.datetime.fromtimestamp(modified, dt.UTC).date().isoformat()


def _folder_series(rel: PurePosixPath) -> str | None:
    """The folder a file sits in (a Notion database's folder without its hex id); None at the
    top of the folder read."""
    if len(rel.parts) < 2:
        return None
    return markdown.strip_notion_id(rel.parts[-2])[: LIMITS["series"].chars].strip() or None
