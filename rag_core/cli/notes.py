"""``rag-core delete``: a user's note out (``rag-core ingest``, notes in:
``rag_core.cli.folders``)."""

from __future__ import annotations

import argparse

from rag_core.cli.command import parts_of, settings_now
from rag_core.errors import NotFound
from rag_core.ingest.ingestion import check_user, delete_note
from rag_core.ingest.notes import check_note_id


def cmd_delete(args: argparse.Namespace) -> int:
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
