"""A Word document (``.docx``) read from its XML as a stream (``lxml.etree.iterparse``): each
paragraph and each table where it stands in the document, so that memory holds one block at a
time and every element is counted against the reading limits (``budget``).

- Paragraphs: their runs' text (``w:t``, tabs as spaces; deleted and hidden runs, ``w:delText``
  and ``w:vanish``, left out); a ``Heading N`` style as a Markdown heading (``##``... one level
  below the note's own); the first ``Title``-styled paragraph is the title, not text.
- Tables: a row's cells as ``cell | cell`` lines, in place; a table inside a cell gives its
  text to that cell.
- Fields: the core properties' title, author (``dc:creator``) and creation date; when the title
  is empty, the ``Title`` paragraph, then the first heading.
"""

from __future__ import annotations

import io
import re
import zipfile

from rag_core.ingest.readers.budget import Budget
from rag_core.ingest.readers.errors import DOCX_CORRUPT, FileRefused

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_HEADING = re.compile(r"heading\s*(\d)", re.I)
_BLANKS = re.compile(r"[ \t\u00a0]+")
_MAIN = "word/document.xml"


def read_word(data: bytes, name: str, budget: Budget | None = None) -> tuple[
        str, str | None, str | None, str | None]:
    """The body, the title, the author and the creation date (``YYYY-MM-DD``) of a DOCX."""
    from lxml import etree

    budget = budget or Budget(name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if _MAIN not in names:
                raise FileRefused(DOCX_CORRUPT, f"{name}: no {_MAIN} in the Word document")
            styles = _styles(archive, names, budget)
            core = _core(archive, names)
            with archive.open(_MAIN) as part:
                lines, title_style, heading = _body(part, styles, budget)
    except FileRefused:
        raise
    except etree.XMLSyntaxError as exc:
        if "XML_PARSE_HUGE" in str(exc) or "xcessive depth" in str(exc):
            # libxml2's own limits (256 deep, 10 MB in one text node) bind first
            raise budget.refuse(f"past the XML parser's limits ({exc})") from None
        raise FileRefused(DOCX_CORRUPT, f"{name}: the Word document cannot be read "
                                        f"({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # noqa: BLE001 - a parser of untrusted bytes fails in many ways
        raise FileRefused(DOCX_CORRUPT, f"{name}: the Word document cannot be read "
                                        f"({type(exc).__name__}: {exc})") from None
    title = core.get("title") or title_style or heading
    return "\n\n".join(lines), title, core.get("creator"), core.get("created")


def _parse(part: object, budget: Budget) -> object:
    from lxml import etree

    return etree.iterparse(part, events=("start", "end"), resolve_entities=False,
                           no_network=True, huge_tree=False, load_dtd=False)


def _styles(archive: zipfile.ZipFile, names: set[str], budget: Budget) -> dict[str, str]:
    """Style id -> style name (``Heading1`` -> ``heading 1``)."""
    found: dict[str, str] = {}
    if "word/styles.xml" not in names:
        return found
    with archive.open("word/styles.xml") as part:
        depth = 0
        for event, element in _parse(part, budget):  # type: ignore[attr-defined]
            if event == "start":
                depth += 1
                budget.depth(depth)
                budget.element()
                continue
            depth -= 1
            if element.tag == _W + "style":
                name = element.find(_W + "name")
                if name is not None:
                    found[element.get(_W + "styleId", "")] = name.get(_W + "val", "")
                element.clear()
    return found


def _core(archive: zipfile.ZipFile, names: set[str]) -> dict[str, str]:
    from lxml import etree

    if "docProps/core.xml" not in names:
        return {}
    info = archive.getinfo("docProps/core.xml")
    if info.file_size > 1024 * 1024:
        return {}
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(archive.read("docProps/core.xml"), parser)
    out: dict[str, str] = {}
    for child in root:
        local = etree.QName(child).localname
        text = " ".join((child.text or "").split())
        if local in ("title", "creator") and text:
            out[local] = text
        elif local == "created" and re.match(r"\d{4}-\d{2}-\d{2}", text):
            out["created"] = text[:10]
    return out


def _body(part: object, styles: dict[str, str], budget: Budget
          ) -> tuple[list[str], str | None, str | None]:
    lines: list[str] = []
    title_style: str | None = None
    heading: str | None = None
    depth = 0
    tables = 0  # tables open around the current element
    for event, element in _parse(part, budget):  # type: ignore[attr-defined]
        tag = element.tag
        if event == "start":
            depth += 1
            budget.depth(depth)
            budget.element()
            if tag == _W + "tbl":
                tables += 1
            continue
        depth -= 1
        if tag == _W + "p" and tables == 0:
            text = _text(element)
            budget.text(len(text))
            style = styles.get(_style_id(element), "")
            level = _HEADING.match(style)
            if not text:
                pass
            elif style.lower() == "title" and title_style is None:
                title_style = text
            elif level:
                heading = heading or text
                lines.append("#" * min(6, int(level.group(1)) + 1) + " " + text)
            else:
                lines.append(text)
            _drop(element)
        elif tag == _W + "tbl":
            tables -= 1
            if tables == 0:
                rows = _rows(element)
                budget.text(sum(len(r) for r in rows))
                lines.extend(rows)
                _drop(element)
    return lines, title_style, heading


def _text(paragraph: object) -> str:
    parts: list[str] = []
    for run in paragraph.iter(_W + "r"):  # type: ignore[attr-defined]
        props = run.find(_W + "rPr")
        if props is not None and props.find(_W + "vanish") is not None:
            continue
        for node in run:
            if node.tag == _W + "t":
                parts.append(node.text or "")
            elif node.tag in (_W + "tab", _W + "br", _W + "cr"):
                parts.append(" ")
    return _BLANKS.sub(" ", "".join(parts)).strip()


def _style_id(paragraph: object) -> str:
    props = paragraph.find(_W + "pPr")  # type: ignore[attr-defined]
    style = props.find(_W + "pStyle") if props is not None else None
    return style.get(_W + "val", "") if style is not None else ""


def _rows(table: object) -> list[str]:
    rows: list[str] = []
    for row in table.iterchildren(_W + "tr"):  # type: ignore[attr-defined]
        cells = [" ".join(t for t in (_text(p) for p in cell.iter(_W + "p")) if t)
                 for cell in row.iterchildren(_W + "tc")]
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def _drop(element: object) -> None:
    """Free a block once read: the element and the siblings before it."""
    element.clear()  # type: ignore[attr-defined]
    parent = element.getparent()  # type: ignore[attr-defined]
    if parent is not None:
        while element.getprevious() is not None:  # type: ignore[attr-defined]
            del parent[0]
