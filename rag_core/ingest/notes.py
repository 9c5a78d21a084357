"""One note from fields, checked whole: what Markdown front matter gives (read in
``rag_core.ingest.readers.markdown``, the one place Markdown is read) or a JSON object holds.

Markdown (``.md``, ``.markdown``)::

    ---
    id: grace-2024-03
    title: Grace that teaches
    date: 2024-03-10
    speaker: Ruth Okafor
    series: Titus
    tags: [grace, discipleship]
    scripture: Titus 2:11-14, Ephesians 2:8
    ---
    The body, in paragraphs.

JSON lines (``.jsonl``, ``.ndjson``): one object per line with the same fields plus ``body``.
``tags`` and ``scripture`` may be a list or a comma-separated string; ``date`` may be a YAML date
(stored as an ISO string).  A Markdown note without front-matter ``title`` may give it as a first
``# heading`` line.  A note without ``id`` gets one from its file name (JSON lines: file name and
line number), which stays the same from one run to the next.

Anything wrong raises ``InvalidNote`` naming the file, the line and the problem: bad YAML or
JSON, a missing title or body, duplicate ids, text that is not UTF-8, control characters (C0
other than tab, line feed and carriage return, and DEL) or lone surrogates and Unicode
non-characters in the body or any field, a field over its length limit, a control or
bidirectional character in a field, or a date that is not a real date
(``rag_core.ingest.fields``).

A title over its limit (300 characters) is no reason to refuse a note: it is kept whole as the
first paragraph of the body and shortened where it is repeated (``bound_title``).

Files and folders are read by ``rag_core.ingest.readers`` (every format, each file's failure
reported apart); this module parses and checks one note.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import stat
import unicodedata
import urllib.parse
from pathlib import Path

from rag_core.errors import InvalidNote
from rag_core.ingest.fields import LIMITS, field_problem, normal_date
from rag_core.safety.normalise import bad_code_point, unreadable_character
from rag_core.types import JsonObject, Note

JSONL_SUFFIXES = (".jsonl", ".ndjson")
FIELDS = ("id", "title", "date", "speaker", "series", "tags", "scripture")
MAX_ID_CHARS = 200
# A title over the field's limit (``LIMITS``) is kept whole at the top of the body and shortened
# where it is repeated; one longer than this is not a title.
MAX_TITLE_KEPT = 2_000
# A note file larger than this is refused before it is read (the bulk API's body limit too).
MAX_NOTE_FILE_BYTES = 16 * 1024 * 1024

_SLUG = re.compile(r"[^a-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 but tab, LF, CR; and DEL


def note_id_problem(note_id: object) -> str | None:
    """Why ``note_id`` breaks the one note-id rule (the CLI, bulk uploads and the HTTP path
    share it), or None. An id is 1-200 characters of printable Unicode in NFKC form (so no
    fullwidth or other compatibility forms that look like another id), without ``/`` and not
    ``.`` or ``..`` (a path segment could never reach it), without blanks at either end, and
    without U+FFFD (what a decoder puts where bytes were not UTF-8)."""
    if not isinstance(note_id, str) or not note_id:
        return "a note id must be non-empty text"
    if len(note_id) > MAX_ID_CHARS:
        return f"a note id has at most {MAX_ID_CHARS} characters, not {len(note_id)}"
    unreadable = unreadable_character(note_id)
    if unreadable:
        return f"a note id may not contain {unreadable}"
    if "/" in note_id:
        return "a note id may not contain '/'"
    if note_id in (".", ".."):
        return f"a note id may not be {note_id!r} (a path segment that clients rewrite)"
    if "\ufffd" in note_id:
        return "a note id may not contain U+FFFD (bytes that were not UTF-8)"
    if note_id != note_id.strip():
        return "a note id may not start or end with blanks"
    if unicodedata.normalize("NFKC", note_id) != note_id:
        return ("a note id must be in Unicode NFKC form (no fullwidth or other compatibility "
                f"characters): {unicodedata.normalize('NFKC', note_id)!r} instead")
    return None


def check_note_id(note_id: object, where: str = "note id") -> str:
    """``note_id`` when it follows the rule of :func:`note_id_problem`, else ``InvalidNote``."""
    problem = note_id_problem(note_id)
    if problem:
        raise InvalidNote(f"{where}: {problem}")
    return str(note_id)


def note_id_from_raw_path(raw_segment: bytes) -> str:
    """A note id from the raw (still percent-encoded) path segment, decoded strictly as UTF-8:
    invalid bytes are refused, never turned into U+FFFD."""
    try:
        text = urllib.parse.unquote_to_bytes(raw_segment).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidNote("note id: the path is not valid UTF-8 once percent-decoded") from None
    return check_note_id(text)


def check_note(note: Note) -> None:
    """``InvalidNote`` naming the note when its id, body or a field holds a control character,
    a lone surrogate or a non-character (for notes made in code rather than read from files)."""
    where = f"note {note.id!r}"
    check_note_id(note.id, where)
    for key, value in note.metadata().items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str):
                check_characters(item, where, 1, f"the field {key!r}")
    check_characters(note.body, where, 1, "the body")


def check_note_file(file: Path, limit: int = MAX_NOTE_FILE_BYTES) -> None:
    """``InvalidNote`` unless ``file`` is a regular file of at most ``limit`` bytes, checked
    before it is opened: a device (``/dev/zero``), a FIFO or a socket is refused, not read."""
    try:
        info = file.stat()
    except OSError as exc:
        raise InvalidNote(f"{file}: cannot be read ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise InvalidNote(f"{file}: not a regular file (a device, FIFO or socket is not read)")
    if info.st_size > limit:
        raise InvalidNote(f"{file}: {info.st_size:,} bytes; a note file may have at most "
                          f"{limit:,} bytes")


def check_characters(text: str, where: str, first_line: int, what: str) -> None:
    """``InvalidNote`` at the line of the first control character or invalid code point."""
    match = _CONTROL.search(text)
    if match:
        line = first_line + text.count("\n", 0, match.start())
        raise InvalidNote(f"{where}:{line}: {what} contains the control character "
                          f"U+{ord(match.group(0)):04X} (only tab, line feed and carriage return "
                          "are allowed)")
    bad = bad_code_point(text)
    if bad:
        raise InvalidNote(f"{where}:{first_line}: {what} contains {bad}")


def note_hash(note: Note) -> str:
    """sha256 over the body and every metadata field, stable across runs and platforms."""
    payload = {"v": 1, "id": note.id, "body": note.body, **note.metadata()}
    data = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def build_note(meta: JsonObject, body: str, name: str, *, default_id: str,
               line: int = 1, body_line: int = 1) -> Note:
    """One note from its fields and body, by every rule of this module (the readers of other
    formats end here: ``rag_core.ingest.readers``)."""
    return build_parsed(meta, body, name, line=line, body_line=body_line, default_id=default_id)


def bound_title(title: str, body: str) -> tuple[str, str]:
    """A title over its limit kept whole at the top of the body, and shortened (at a word, with
    an ellipsis) where it is repeated: in every chunk's header, citation and cached answer."""
    limit = LIMITS["title"].chars
    if len(title) <= limit:
        return title, body
    cut = title[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "\u2026", f"{title}\n\n{body}"


def note_from_record(record: JsonObject, name: str, *, line: int = 1,
                     default_id: str = "") -> Note:
    """One note from a JSON object with ``body`` and the front-matter fields: a line of a
    JSON-lines file, or a note sent to the HTTP API (same rules, same errors)."""
    record = dict(record)
    body = record.pop("body", None)
    if body is not None and not isinstance(body, str):
        raise InvalidNote(f"{name}:{line}: 'body' must be a string")
    if not default_id and not record.get("id"):
        raise InvalidNote(f"{name}:{line}: missing id")
    return build_parsed(record, body or "", name, line=line, body_line=line, default_id=default_id)


def build_parsed(meta: JsonObject, body: str, name: str, *, line: int, body_line: int,
           default_id: str) -> Note:
    where = f"{name}:{line}"
    for key in FIELDS:
        value = meta.get(key)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str):
                check_characters(item, name, line, f"the field {key!r}")
    check_characters(body, name, body_line, "the body")
    title = _text(meta.get("title"), "title", where)
    if not title:
        raise InvalidNote(f"{where}: missing title")
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise InvalidNote(f"{name}:{body_line}: empty body")
    if len(title) > MAX_TITLE_KEPT:
        raise InvalidNote(f"{where}: the field 'title' has {len(title):,} characters; at most "
                          f"{MAX_TITLE_KEPT:,} are kept (one over {LIMITS['title'].chars} is "
                          "kept whole in the body and shortened where it is repeated)")
    title, body = bound_title(title, body)
    note_id = _text(meta.get("id"), "id", where) or default_id
    check_note_id(note_id, where)
    note = Note(
        id=note_id,
        title=title,
        body=body,
        date=_date(meta.get("date"), where),
        speaker=_text(meta.get("speaker"), "speaker", where),
        series=_text(meta.get("series"), "series", where),
        tags=_list(meta.get("tags"), "tags", where),
        scripture=_list(meta.get("scripture"), "scripture", where),
    )
    for field in ("title", "speaker", "series", "tags", "scripture"):
        problem = field_problem(field, getattr(note, field))
        if problem:
            raise InvalidNote(f"{where}: the field {field!r} {problem}")
    return note


def _text(value: object, field: str, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bool, list, dict)):
        raise InvalidNote(f"{where}: {field} must be text, not {type(value).__name__}")
    text = str(value).strip()
    return text or None


def _date(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a year written bare in YAML
    if isinstance(value, str):
        if not value.strip():
            return None
        date = normal_date(value)
        if date is None:
            raise InvalidNote(f"{where}: the field 'date' is {value.strip()[:40]!r}, not a real "
                              "date (YYYY-MM-DD, YYYY-MM or YYYY)")
        return date
    raise InvalidNote(f"{where}: the field 'date' must be a date or text, not "
                      f"{type(value).__name__}")


def _list(value: object, field: str, where: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items: list[object] = re.split(r"[;,]", value)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise InvalidNote(f"{where}: {field} must be a list or a comma-separated string")
    out: list[str] = []
    for item in items:
        if isinstance(item, (list, dict)) or item is None:
            raise InvalidNote(f"{where}: every item of {field} must be text")
        text = str(item).strip()
        if text and text not in out:
            out.append(text)
    return tuple(out)


def stem_id(name: str) -> str:
    stem = Path(name).stem.lower()
    return _SLUG.sub("-", stem).strip("-") or "note"
