"""``rag-core revisions USER NOTE`` and ``rag-core trash list|restore|purge --user U``: a note's
earlier texts and the trash of deleted notes (``rag_core.ingest.restore``,
``rag_core.store.note_history``). A restore embeds the text again, as ``ingest`` does."""

from __future__ import annotations

import argparse
import sys

from rag_core.cli.command import parts_of, print_json, settings_now
from rag_core.errors import ConfirmationRequired, InvalidArgument
from rag_core.ingest import restore
from rag_core.ingest.ingestion import check_user
from rag_core.store.note_history import sweep_trash


def cmd_revisions(args: argparse.Namespace) -> int:
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
