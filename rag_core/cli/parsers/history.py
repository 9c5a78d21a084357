"""``rag-core revisions`` and ``rag-core trash``: their arguments (run by
``rag_core.cli.history``)."""

from __future__ import annotations

from rag_core.cli.parsers import Add


def register(add: Add) -> None:
    p = add("revisions", "history:cmd_revisions",
            "List a note's earlier texts (newest first), or write "
            "one back with --restore N (embedded again).")
    p.add_argument("user", help="the user who owns the note")
    p.add_argument("note_id", help="the note")
    p.add_argument("--restore", type=int, default=None, metavar="N",
                   help="write revision N back as the note")
    p.add_argument("--json", action="store_true", help="print as JSON")

    p = add("trash", "history:cmd_trash",
            "A user's deleted notes, kept RAG_NOTE_TRASH_DAYS days: list "
            "them, restore one (embedded again), or purge them for good.")
    p.add_argument("action", choices=["list", "restore", "purge"])
    p.add_argument("note_id", nargs="?", default="",
                   help="restore: the note; list, purge: only this note")
    p.add_argument("--user", required=True, help="whose trash")
    p.add_argument("--yes", action="store_true", help="purge without asking on a terminal")
    p.add_argument("--json", action="store_true", help="print as JSON")
