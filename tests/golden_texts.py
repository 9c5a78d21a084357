"""Reading the texts stored under golden/ for tests that run a check over all of them: the
fields of a JSONL file, and the lines of a source file (comments left out, ``\\n`` unescaped)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def jsonl_fields(path: Path, *fields: str) -> Iterator[str]:
    """Each named field of each row that has it, as text."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            yield from (str(row[f]) for f in fields if row.get(f))


def source_lines(path: Path) -> Iterator[str]:
    """Each line of a text source, but blank lines and ``#`` comments."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.replace("\\n", "\n")
