"""``rag-core ingest`` and ``rag-core delete``: a user's notes in and out."""

from __future__ import annotations

import argparse

from rag_core.cli.command import Add, parts_of, settings_now
from rag_core.cli.folders import add_delete_bound


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag_core.cli.folders import ingest_folder  # every format, a line per failed file

    return ingest_folder(args)


def cmd_delete(args: argparse.Namespace) -> int:
    from rag_core.errors import NotFound
    from rag_core.ingest.ingestion import check_user, delete_note
    from rag_core.ingest.notes import check_note_id

    check_user(args.user)
    check_note_id(args.note_id)  # the rule of bulk and the HTTP path (not UTF-8: refused)
    with parts_of(settings_now()) as parts:
        if not delete_note(parts, args.user, args.note_id):
            raise NotFound(f"User {args.user!r} has no note {args.note_id!r}.")
        history = parts.store.history
        kept = "" if history is None or history.trash_days == 0 else (
            f" (in the trash for {history.trash_days} days: rag-core trash restore "
            f"{args.note_id} --user {args.user})")
    print(f"deleted {args.note_id} of {args.user}{kept}")
    return 0


def register(add: Add) -> None:
    p = add("ingest", cmd_ingest, "Ingest a folder or file of notes (Markdown, text, PDF, "
                                  "Word, HTML, JSON lines); exit 1 when a file failed.")
    p.add_argument("path", help="folder of notes (.md .txt .pdf .docx .html .jsonl), or a file")
    p.add_argument("--user", required=True, help="the user who owns these notes")
    p.add_argument("--prune", action="store_true",
                   help="also delete this user's notes that are not in PATH")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_delete_bound(p)

    p = add("delete", cmd_delete, "Delete one note of a user.")
    p.add_argument("note_id")
    p.add_argument("--user", required=True)
