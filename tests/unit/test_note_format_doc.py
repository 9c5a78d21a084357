"""The note format's one table (docs/evaluate-your-data.md, "The note format") names every field
a note has and the limits the code holds it to."""

from __future__ import annotations

import re
from pathlib import Path

from rag_core.ingest.fields import LIMITS
from rag_core.ingest.notes import FIELDS, MAX_ID_CHARS, MAX_NOTE_FILE_BYTES, MAX_TITLE_KEPT

DOC = Path(__file__).resolve().parents[2] / "docs" / "evaluate-your-data.md"


def table() -> dict[str, list[str]]:
    """field -> its row's cells (type, required / default, limits, where it comes from)."""
    section = DOC.read_text().split("### The note format", 1)[1]
    start = section.index("\n| field |")
    table_lines = section[start + 1:].split("\n\n", 1)[0].splitlines()  # to its end
    rows = [line for line in table_lines if line.startswith("| `")]
    cells = [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]
    return {c[0].strip("`"): c[1:] for c in cells}


def test_the_table_names_every_field_once_with_its_type_default_and_limits():
    rows = table()
    assert set(rows) == {*FIELDS, "body"}
    assert all(len(cells) == 4 and all(cells) for cells in rows.values())


def test_the_limits_in_the_table_are_the_codes():
    rows = table()

    def numbers(field: str) -> set[int]:
        return {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", rows[field][2])}

    for field, limit in LIMITS.items():
        assert limit.chars in numbers(field), field
        if limit.items > 1:
            assert limit.items in numbers(field), field
    assert MAX_ID_CHARS in numbers("id")
    assert MAX_TITLE_KEPT in numbers("title")
    assert MAX_NOTE_FILE_BYTES // (1024 * 1024) in numbers("body")
