"""``rag-core revisions USER NOTE`` and ``rag-core trash list|restore|purge --user U``: a note's
earlier texts and the trash of deleted notes (``rag_core.ingest.restore``,
``rag_core.store.note_history``). A restore embeds the text again, as ``ingest`` does."""

from __future__ import annotations

import argparse
import sys

from rag_core.cli.command import Add, parts_of, print_json, settings_now
from rag_core.errors import ConfirmationRequired, InvalidArgument


def cmd_revisions(args: argparse.Namespace) -> int:
    from rag_core.ingest import restore

    with parts_of(settings_now()) as parts:
        if args.restore is not None:
            done = restore.restore(parts, args.user, args.note_id, args.restore)
        else:
            found = restore.revisions(parts.store, args.user, args.note_id)
    if args.restore is not None:
        if args.json:
            print_json(done)
        else:
            print(f"restored {args.note_id} of {args.user} from revision {args.restore}: "
                  f"{done['status']}")
        return 0
    if args.json:
        print_json(found)
    else:
        for r in found["revisions"]:
            print(f"{r['revision']}\t{r['replaced_at']}\t{r['title'] or ''}")
        print(f"{len(found['revisions'])} revision(s) of {args.note_id}", file=sys.stderr)
    return 0


def cmd_trash(args: argparse.Namespace) -> int:
    from rag_core.ingest import restore
    from rag_core.ingest.ingestion import check_user
    from rag_core.store.note_history import sweep_trash

    check_user(args.user)
    if args.action == "restore" and not args.note_id:
        raise InvalidArgument("trash restore takes the NOTE to restore.")
    if args.action != "purge" and args.yes:
        raise InvalidArgument(f"trash {args.action} takes no --yes.")
    with parts_of(settings_now()) as parts:
        history = restore.history_of(parts.store)
        sweep_trash(history, force=True)  # every user's trash past its time out first
        if args.action == "list":
            rows = [t.to_dict() for t in history.trash_list(args.user)]
            if args.note_id:
                rows = [r for r in rows if r["note_id"] == args.note_id]
            if args.json:
                print_json({"user": args.user, "trash": rows})
            else:
                for r in rows:
                    print(f"{r['note_id']}\tdeleted {r['deleted_at']}\tpurged "
                          f"{r['purge_at']}\t{r['title'] or ''}")
                print(f"{len(rows)} note(s) in the trash of {args.user}", file=sys.stderr)
            return 0
        if args.action == "restore":
            done = restore.restore(parts, args.user, args.note_id)
            if args.json:
                print_json(done)
            else:
                print(f"restored {args.note_id} of {args.user} from the trash: "
                      f"{done['status']}")
            return 0
        listed = [t.note_id for t in history.trash_list(args.user)
                  if not args.note_id or t.note_id == args.note_id]
        print(f"purge: {len(listed)} note(s) to delete for good: " + ", ".join(listed),
              file=sys.stderr)
        if listed and sys.stdin.isatty() and not args.yes:
            raise ConfirmationRequired(f"This deletes {len(listed)} note(s) for good; run it "
                                       "again with --yes to go ahead.")
        notes, revisions = history.purge(args.user, args.note_id or None)
    if args.json:
        print_json({"user": args.user, "purged": notes, "revisions_purged": revisions})
    else:
        print(f"purged {notes} note(s) and {revisions} revision(s) of {args.user}")
    return 0


def register(add: Add) -> None:
    p = add("revisions", cmd_revisions, "List a note's earlier texts (newest first), or write "
            "one back with --restore N (embedded again).")
    p.add_argument("user", help="the user who owns the note")
    p.add_argument("note_id", help="the note")
    p.add_argument("--restore", type=int, default=None, metavar="N",
                   help="write revision N back as the note")
    p.add_argument("--json", action="store_true", help="print as JSON")

    p = add("trash", cmd_trash, "A user's deleted notes, kept RAG_NOTE_TRASH_DAYS days: list "
            "them, restore one (embedded again), or purge them for good.")
    p.add_argument("action", choices=["list", "restore", "purge"])
    p.add_argument("note_id", nargs="?", default="",
                   help="restore: the note; list, purge: only this note")
    p.add_argument("--user", required=True, help="whose trash")
    p.add_argument("--yes", action="store_true", help="purge without asking on a terminal")
    p.add_argument("--json", action="store_true", help="print as JSON")
