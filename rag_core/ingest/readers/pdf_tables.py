"""Tables on a PDF page as rows of cells, found by ``pypdf``'s layout mode
(``extract_text(extraction_mode="layout")``, which keeps each glyph's horizontal place as
spaces).

The rule: a laid-out line whose text splits at gaps of three or more spaces into two or more
cells of at most ``MAX_CELL`` characters each is a row (a first cell without a letter or digit
is a list's bullet, not a cell), and two or more such lines one after the other with as many
cells, each column starting where the row above has it (within ``ALIGN`` characters), are a
table. A paragraph's justified spacing is one or two spaces
and a column of running text is longer than a cell, so neither is taken for a table. Each row is
then found in the page's ordinary text (the same words, spacing aside) and written there as
``cell | cell``.
"""

from __future__ import annotations

import re

MAX_CELL = 40  # characters of one cell
ALIGN = 2  # characters a column's start may move from one row to the next
_CELL = re.compile(r"\S+(?: {1,2}\S+)*")


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
    starts: list[int] = []
    for line in [*laid.splitlines(), ""]:
        cells, where = _cells(line)
        if cells and run and len(cells) == len(starts) and all(
                abs(a - b) <= ALIGN for a, b in zip(where, starts, strict=True)):
            run.append(cells)
            continue
        if len(run) >= 2:
            for row in run:
                found[" ".join(row)] = " | ".join(row)
        run, starts = ([cells], where) if cells else ([], [])
    return found


def _cells(line: str) -> tuple[list[str], list[int]]:
    """A laid-out line's cells and the column each starts at; none when it is no row."""
    cells: list[str] = []
    where: list[int] = []
    for part in _CELL.finditer(line):
        cells.append(" ".join(part.group(0).split()))
        where.append(part.start())
    if len(cells) < 2 or any(len(c) > MAX_CELL for c in cells) or \
            not any(ch.isalnum() for ch in cells[0]):
        return [], []
    return cells, where
