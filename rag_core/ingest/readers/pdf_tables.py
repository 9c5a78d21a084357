"""Tables on a PDF page as rows of cells, found by ``pypdf``'s layout mode
(``extract_text(extraction_mode="layout")``, which keeps each glyph's horizontal place as
spaces).

The rule: a laid-out line whose text splits at gaps of three or more spaces into two or more
cells of at most ``MAX_CELL`` characters each is a row, and two or more such lines in a row
(no blank line between them) are a table. A paragraph's justified spacing is one or two spaces
and a column of running text is longer than a cell, so neither is taken for a table. Each row is
then found in the page's ordinary text (the same words, spacing aside) and written there as
``cell | cell``.
"""

from __future__ import annotations

import re

MAX_CELL = 40  # characters of one cell
_GAP = re.compile(r"\s{3,}")


def table_rows(page: object, text: str) -> dict[str, str]:
    """The rows of the tables on ``page``: the row's words (single-spaced) -> ``a | b``; only
    rows that are a line of ``text`` (the page's ordinary text)."""
    if not text.strip():
        return {}
    try:
        laid = page.extract_text(extraction_mode="layout")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - the layout mode is an extra: the text stands without it
        return {}
    lines = {" ".join(line.split()) for line in text.splitlines()}
    return {key: row for key, row in rows(laid or "").items() if key in lines}


def rows(laid: str) -> dict[str, str]:
    """Rows of the tables in laid-out text (see the module)."""
    found: dict[str, str] = {}
    run: list[list[str]] = []
    for line in [*laid.splitlines(), ""]:
        cells = [" ".join(c.split()) for c in _GAP.split(line.strip())] if line.strip() else []
        if len(cells) >= 2 and all(len(c) <= MAX_CELL for c in cells):
            run.append(cells)
            continue
        if len(run) >= 2:
            for row in run:
                found[" ".join(row)] = " | ".join(row)
        run = []
    return found
