"""An HTML page's main content (``selectolax``'s lexbor parser), without what its readers never
see, under the reading limits (``budget``).

- Before parsing, a linear scan of the bytes (``scan``) counts the elements and the attributes
  of each tag: the parser's cost grows as the square of one element's attributes (40,000 of
  them took 5 s), so a page past ``MAX_ATTRIBUTES`` on one element or ``MAX_ELEMENTS`` in all is
  refused before the parser sees it.
- The walk is iterative, with the depth checked (``MAX_DEPTH``): a page nested 1,100 deep is
  ``DOCUMENT_TOO_COMPLEX``, never a ``RecursionError``.
- Not content: navigation, header, footer, aside, forms, scripts, styles, templates,
  ``noscript``; and hidden elements: the ``hidden`` attribute, ``aria-hidden="true"``, an inline
  style with ``display:none``, ``visibility:hidden`` or a zero ``font-size`` (an instruction its
  human readers never see is not note text).
- Text: ``<article>``, ``<main>`` or ``role=main``, else the body; headings as Markdown
  headings; a table's rows as ``cell | cell`` lines, each ``td``/``th`` a cell.
- Fields: the title from ``<title>``, else the first ``<h1>``; author and date from ``<meta>``;
  the keywords as derived tags (fitted by ``rag_core.ingest.readers.derived``).
"""

from __future__ import annotations

import re

from rag_core.ingest.readers import written
from rag_core.ingest.readers.budget import Budget

_BLANKS = re.compile(r"[ \t\u00a0]+")
_NOT_CONTENT = frozenset(("nav", "header", "footer", "aside", "script", "style", "noscript",
                          "form", "template", "svg", "iframe", "button", "head"))
_BLOCKS = frozenset(("p", "div", "section", "article", "main", "li", "ul", "ol", "pre",
                     "blockquote", "table", "tbody", "thead", "tfoot", "dl", "dt", "dd",
                     "figure", "figcaption", "br", "hr", "details", "summary", "caption"))
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|"
                           r"font-size\s*:\s*0(?:\.0*)?(?:px|pt|em|rem|%)?\s*(?:;|!|$)", re.I)
_TAG = re.compile(rb"<([A-Za-z][^\s/>]*)|<!--")
_SEP = re.compile(rb"[\s/]+")
_ATTR = re.compile(rb"([^\s\"'>/=][^\s\"'>/=]*)(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]*))?")
_JUNK = re.compile(rb"[\"'=]+")
_RAW = (b"script", b"style", b"textarea", b"title", b"xmp")


def scan(data: bytes, budget: Budget) -> None:
    """Count elements and each tag's attributes, linearly, before the parser runs."""
    pos = 0
    end = len(data)
    while True:
        found = _TAG.search(data, pos)
        if found is None:
            return
        if found.group(0) == b"<!--":
            close = data.find(b"-->", found.end())
            pos = end if close < 0 else close + 3
            continue
        budget.element()
        pos = found.end()
        count = 0
        while pos < end and data[pos] != 0x3E:  # up to the tag's ">"
            gap = _SEP.match(data, pos)
            if gap is not None:  # separators skipped once: no rescan of a long run of them
                pos = gap.end()
                continue
            attr = _ATTR.match(data, pos)
            if attr is None or attr.end() == pos:
                junk = _JUNK.match(data, pos)
                pos = junk.end() if junk is not None else pos + 1
                continue
            count += 1
            if count > budget.max_attributes:
                budget.attributes(count)
            pos = attr.end()
        name = found.group(1).lower()
        if name in _RAW:  # text up to the closing tag: no tags inside
            closing = re.compile(rb"</" + re.escape(name), re.I).search(data, pos)
            pos = end if closing is None else closing.start()


def read_html(data: bytes, name: str, budget: Budget | None = None) -> dict[str, object]:
    """The body and the fields of an HTML page: ``body``, ``title``, ``author``, ``date``,
    ``keywords``."""
    from selectolax.lexbor import LexborHTMLParser

    budget = budget or Budget(name)
    scan(data, budget)
    tree = LexborHTMLParser(data.decode("utf-8", errors="replace"))
    budget.tick()
    title_node = tree.css_first("title") or tree.css_first("h1")
    fields: dict[str, object] = {
        "title": _clean(title_node.text()) if title_node is not None else None,
        "author": _meta(tree, "author", "article:author", "dc.creator"),
        "date": _meta(tree, "date", "article:published_time", "dc.date", "dcterms.created"),
        "keywords": _meta(tree, "keywords"),
    }
    if fields["date"] is None:
        stamp = tree.css_first("time[datetime]")
        fields["date"] = _clean(stamp.attributes.get("datetime")) if stamp is not None else None
    main = tree.css_first("article") or tree.css_first("main") or \
        tree.css_first("[role=main]") or tree.body
    lines = _walk(main, budget) if main is not None else []
    fields["body"] = written.letters("\n\n".join(line for line in lines if line))
    return fields


def _meta(tree: object, *names: str) -> str | None:
    for wanted in names:
        for attr in ("name", "property"):
            node = tree.css_first(f'meta[{attr}="{wanted}"]')  # type: ignore[attr-defined]
            if node is not None and node.attributes.get("content"):
                return _clean(node.attributes["content"])
    return None


def hidden(node: object) -> bool:
    """Whether an element is not shown to the page's readers (see the module)."""
    attributes = node.attributes  # type: ignore[attr-defined]
    if not attributes:
        return False
    if "hidden" in attributes:
        return True
    if (attributes.get("aria-hidden") or "").strip().lower() == "true":
        return True
    return bool(_HIDDEN_STYLE.search(attributes.get("style") or ""))


def _walk(root: object, budget: Budget) -> list[str]:
    """Blocks of ``root`` as lines, without recursion: a stack of (node, depth) and markers
    that end a block, a cell or a row when their element has been walked."""
    lines: list[str] = []
    inline: list[str] = []
    cells: list[str] | None = None  # the cells of the table row being read
    stack: list[tuple[object, int, str]] = [(root, 0, "")]
    walked = 0
    while stack:
        node, depth, mark = stack.pop()
        if mark == "block":
            _flush(lines, inline)
            continue
        if mark == "cell":
            if cells is not None:
                cells.append(_line(inline))
            inline.clear()
            continue
        if mark == "row":
            if cells and any(cells):
                _flush(lines, inline)
                lines.append(" | ".join(cells))
            cells = None
            continue
        budget.depth(depth)
        walked += 1
        if not walked & 0xFFF:  # the elements were counted by ``scan``; the time is checked
            budget.tick()
        tag = node.tag  # type: ignore[attr-defined]
        if tag == "-text":
            inline.append(node.text_content or "")  # type: ignore[attr-defined]
            continue
        if tag in _NOT_CONTENT or tag in ("-comment",) or hidden(node):
            continue
        if tag in _HEADINGS:
            _flush(lines, inline)
            text = _BLANKS.sub(" ", node.text(separator=" ")).strip()  # type: ignore[attr-defined]
            if text:
                lines.append("#" * _HEADINGS[tag] + " " + text)
            continue
        children = list(node.iter(include_text=True))  # type: ignore[attr-defined]
        if tag == "tr":
            _flush(lines, inline)
            cells = []
            stack.append((node, depth, "row"))
        elif tag in ("td", "th"):
            inline.clear()
            stack.append((node, depth, "cell"))
        elif tag in _BLOCKS and node is not root and cells is None:
            _flush(lines, inline)
            stack.append((node, depth, "block"))
        elif tag in _BLOCKS:
            inline.append(" ")  # a block inside a cell: part of the cell's text
        stack.extend((child, depth + 1, "") for child in reversed(children))
    _flush(lines, inline)
    return lines


def _line(inline: list[str]) -> str:
    return _BLANKS.sub(" ", " ".join("".join(inline).split())).strip()


def _flush(lines: list[str], inline: list[str]) -> None:
    text = _line(inline)
    if text:
        lines.append(text)
    inline.clear()


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = _BLANKS.sub(" ", str(value)).strip()
    return text or None
