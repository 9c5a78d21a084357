"""Markdown as people keep it: plain, an Obsidian vault, a Notion export.

- Obsidian: YAML front matter as everywhere (``rag_core.ingest.notes``); ``#tags`` in the text
  join the front matter's tags (those that fit the tags' limits); ``[[wikilinks]]`` become
  their plain text (``[[Page|shown]]`` reads ``shown``, ``[[Page#Part]]`` reads ``Page``) and
  ``![[embeds]]`` their name.
- Notion: a page exported as Markdown is named ``Title <32 hex digits>.md``, starts with
  ``# Title`` and then lists the page's properties as ``Name: value`` lines until the first
  blank line. Those lines become fields (``Date``/``Created``, ``Tags``, ``Speaker``/
  ``Author``, ``Series``, ``Scripture``) and leave the body; a property of another name stays in
  the body. A database's pages sit in a folder named after the database (with its hex id),
  which gives their series.
"""

from __future__ import annotations

import datetime as dt
import re

import yaml

from rag_core.errors import InvalidNote
from rag_core.ingest.fields import LIMITS, normal_date
from rag_core.ingest.notes import build_parsed, check_characters, stem_id
from rag_core.types import JsonObject, Note

MARKDOWN_SUFFIXES = (".md", ".markdown")
_FRONT = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*\r?$\n?", re.S | re.M)
_HEADING = re.compile(r"\A\s*#[ \t]+(.+?)[ \t]*#*[ \t]*(?:\r?\n|\Z)")


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader with timestamps kept as text: a date is checked by the one date
    rule (``rag_core.ingest.fields.normal_date``), not by YAML's constructor."""


_FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp",
                                   _FrontMatterLoader.construct_scalar)


def parse_markdown(text: str, name: str = "<text>", *, default_id: str | None = None) -> Note:
    """One note from Markdown with optional YAML front matter (``name`` is for messages)."""
    meta, body, body_line = split_markdown(text, name)
    return build_parsed(meta, body, name, line=1, body_line=body_line,
                  default_id=default_id or stem_id(name))


def split_markdown(text: str, name: str = "<text>") -> tuple[JsonObject, str, int]:
    """The front matter (a title taken from a first ``# heading`` when it gives none), the body
    and the body's first line number, checked for bad characters and bad YAML."""
    meta: JsonObject = {}
    body_line = 1
    match = _FRONT.match(text)
    if match:
        check_characters(text[: match.end()], name, 1, "the front matter")
        check_characters(text[match.end():], name, text[: match.end()].count("\n") + 1,
                          "the body")
        try:
            loaded = yaml.load(match.group(1), Loader=_FrontMatterLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 2 if mark is not None else 1  # +1 for "---", +1 for 1-based
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise InvalidNote(f"{name}:{line}: bad YAML front matter: {problem}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise InvalidNote(f"{name}:2: front matter must be a mapping of fields")
        meta = dict(loaded or {})
        body_line = text[: match.end()].count("\n") + 1
        text = text[match.end():]
    else:
        check_characters(text, name, 1, "the note")
    if not match and text.lstrip("\ufeff").startswith("---"):
        raise InvalidNote(f"{name}:1: front matter is not closed by a '---' line")
    if not meta.get("title"):
        heading = _HEADING.match(text)
        if heading:
            meta["title"] = heading.group(1)
            text = text[heading.end():]
            body_line += 1
    return meta, text, body_line


NOTION_ID = re.compile(r"\s+[0-9a-f]{32}$")
_WIKILINK = re.compile(r"(!?)\[\[([^\]\|#\n]*)(?:#[^\]\|\n]*)?(?:\|([^\]\n]*))?\]\]")
# a tag starts at a line start or after a blank, begins with a letter and holds no blank;
# a Markdown heading (``# Title``) has a blank after its ``#`` and is never one
_TAG = re.compile(r"(?:(?<=\s)|^)#([^\W\d_][\w/-]*)", re.M)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_PROPERTY = re.compile(r"^([A-Za-z][\w ]{0,40}):\s*(.*)$")
_NOTION_FIELDS = {"date": "date", "created": "date", "created time": "date",
                  "tags": "tags", "tag": "tags", "speaker": "speaker", "author": "speaker",
                  "created by": "speaker", "series": "series", "scripture": "scripture"}
_NOTION_DATES = ("%B %d, %Y", "%B %d, %Y %I:%M %p", "%d %B %Y", "%Y/%m/%d", "%m/%d/%Y")


def is_notion_page(stem: str) -> bool:
    return NOTION_ID.search(stem) is not None


def strip_notion_id(name: str) -> str:
    """A Notion page's or database's name without the hex id the export appends."""
    return NOTION_ID.sub("", name).strip() or name


def plain_links(body: str) -> str:
    """``[[wikilinks]]`` as their plain text."""
    def shown(match: re.Match[str]) -> str:
        return (match.group(3) or match.group(2) or "").strip()

    return _WIKILINK.sub(shown, body)


def inline_tags(body: str) -> list[str]:
    """Obsidian ``#tags`` of the text (outside fenced code), in order, each once."""
    limit = LIMITS["tags"].chars
    found: list[str] = []
    for match in _TAG.finditer(_FENCE.sub("", body)):
        tag = match.group(1).rstrip("/-")
        if tag and len(tag) <= limit and tag not in found:
            found.append(tag)
    return found


def merge_tags(given: object, extra: list[str]) -> object:
    """The front matter's tags (as given: their own rules apply) and the text's ``#tags``, up
    to the number of tags a note may have."""
    if not extra:
        return given
    if given is None or given == "":
        items: list[object] = []
    elif isinstance(given, str):
        items = [t.strip() for t in re.split(r"[;,]", given) if t.strip()]
    elif isinstance(given, (list, tuple)):
        items = list(given)
    else:
        return given  # not a list: let the note's rule refuse it
    room = LIMITS["tags"].items - len(items)
    items += [t for t in extra if t not in items][:max(0, room)]
    return items


def notion_properties(body: str) -> tuple[dict[str, object], str]:
    """The ``Name: value`` lines at the top of a Notion page's body (after its ``# Title``,
    which the Markdown reader has taken) as fields, and the body without them."""
    lines = body.lstrip("\n").split("\n")
    meta: dict[str, object] = {}
    kept: list[str] = []
    taken = 0
    for taken, line in enumerate(lines):  # noqa: B007 - the index is read after the loop
        if not line.strip():
            break
        match = _PROPERTY.match(line)
        if match is None:
            return {}, body  # not a block of properties: the body as it is
        key, value = match.group(1).strip().lower(), match.group(2).strip()
        name = _NOTION_FIELDS.get(key)
        if name == "date":
            meta[name] = notion_date(value)
        elif name:
            meta[name] = value
        else:
            kept.append(line)
    else:
        taken = len(lines)
    rest = "\n".join([*kept, "", *lines[taken:]]) if kept else "\n".join(lines[taken:])
    return {k: v for k, v in meta.items() if v}, rest


def notion_date(value: str) -> str | None:
    """A Notion date ("March 10, 2024", "March 10, 2024 9:00 AM", or a range's start)."""
    first = value.split("\u2192")[0].strip()
    if normal_date(first):
        return normal_date(first)
    for pattern in _NOTION_DATES:
        try:
            return dt.datetime.strptime(first, pattern).date().isoformat()
        except ValueError:
            continue
    return None
