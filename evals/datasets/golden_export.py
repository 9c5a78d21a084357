"""The notes of the golden set as one JSON-lines file, for ``datasets.load_dataset("golden",
"notes")``.

The Markdown notes under ``golden/notes/<user>/`` are the source; ``golden/notes.jsonl`` is
generated from them by the service's own reader (``rag_core.ingest.notes``) and kept in git so that
the
dataset loads without this package. ``python -m evals.datasets.golden_export`` rewrites it;
``tests/evals/test_golden_dataset.py`` fails when it is out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from evals.paths import GOLDEN_DIR

NOTES_FILE = "notes.jsonl"
FIELDS = ("id", "user_id", "title", "date", "speaker", "series", "tags", "scripture", "body")


def notes_lines(golden_dir: Path = GOLDEN_DIR) -> list[str]:
    """One JSON object a note, in path order, with the fields of :data:`FIELDS`."""
    from rag_core.ingest.readers import load_notes

    lines = []
    for folder in sorted(p for p in (golden_dir / "notes").iterdir() if p.is_dir()):
        for note in sorted(load_notes(folder), key=lambda n: n.id):
            row = {"id": note.id, "user_id": folder.name, **note.metadata(), "body": note.body}
            lines.append(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False))
    return lines


def render(golden_dir: Path = GOLDEN_DIR) -> str:
    return "\n".join(notes_lines(golden_dir)) + "\n"


def write(golden_dir: Path = GOLDEN_DIR) -> Path:
    path = golden_dir / NOTES_FILE
    path.write_text(render(golden_dir), encoding="utf-8")
    return path


def in_sync(golden_dir: Path = GOLDEN_DIR) -> bool:
    path = golden_dir / NOTES_FILE
    return path.is_file() and path.read_text(encoding="utf-8") == render(golden_dir)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        ok = in_sync()
        print(f"{GOLDEN_DIR / NOTES_FILE}: {'in sync' if ok else 'OUT OF DATE'}")
        return 0 if ok else 1
    print(f"wrote {write()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
