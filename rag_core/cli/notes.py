"""``rag-core ingest`` and ``rag-core delete``: a user's notes in and out."""

from __future__ import annotations

import argparse

from rag_core.cli.command import Add, parts_of, print_json, settings_now
from rag_core.errors import InvalidNote


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag_core.ingest.ingestion import check_user, ingest_notes
    from rag_core.ingest.notes import load_notes

    check_user(args.user)
    notes = load_notes(args.path)  # every file checked and read before a service starts
    if args.prune and not notes:
        raise InvalidNote(f"{args.path}: no notes found; refusing to prune every note of "
                          f"{args.user!r}")
    with parts_of(settings_now()) as parts:
        report = ingest_notes(parts, args.user, notes, progress=not args.quiet,
                              prune=args.prune)
    data = report.to_dict() if args.json else report.counts()
    if args.json:
        print_json(data)
    else:
        print(", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in data.items()))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from rag_core.errors import NotFound
    from rag_core.ingest.ingestion import check_user, delete_note
    from rag_core.ingest.notes import check_note_id

    check_user(args.user)
    check_note_id(args.note_id)  # the rule of bulk and the HTTP path (not UTF-8: refused)
    with parts_of(settings_now()) as parts:
        if not delete_note(parts, args.user, args.note_id):
            raise NotFound(f"User {args.user!r} has no note {args.note_id!r}.")
    print(f"deleted {args.note_id} of {args.user}")
    return 0


def register(add: Add) -> None:
    p = add("ingest", cmd_ingest, "Ingest a folder or file of notes (Markdown or JSON lines).")
    p.add_argument("path", help="folder of .md / .jsonl notes, or one file")
    p.add_argument("--user", required=True, help="the user who owns these notes")
    p.add_argument("--prune", action="store_true",
                   help="also delete this user's notes that are not in PATH")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("delete", cmd_delete, "Delete one note of a user.")
    p.add_argument("note_id")
    p.add_argument("--user", required=True)
