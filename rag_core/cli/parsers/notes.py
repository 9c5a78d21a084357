"""``rag-core ingest`` and ``rag-core delete``: their arguments (run by ``rag_core.cli.folders``
and ``rag_core.cli.notes``)."""

from __future__ import annotations

from rag_core.cli.parsers import Add
from rag_core.cli.parsers.folders import add_delete_bound


def register(add: Add) -> None:
    p = add("ingest", "folders:ingest_folder", "Ingest a folder or file of notes (Markdown, "
            "text, PDF, Word, HTML, JSON lines); exit 1 when a file failed.")
    p.add_argument("path", help="folder of notes (.md .txt .pdf .docx .html .jsonl), or a file")
    p.add_argument("--user", required=True, help="the user who owns these notes")
    p.add_argument("--prune", action="store_true",
                   help="also delete this user's notes that are not in PATH")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_delete_bound(p)

    p = add("delete", "notes:cmd_delete", "Delete one note of a user.")
    p.add_argument("note_id")
    p.add_argument("--user", required=True)
