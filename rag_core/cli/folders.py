"""``rag-core ingest`` and ``rag-core sync``: a folder of notes in any format the readers take
(``rag_core.ingest.readers``) into a user's notes.

Deleting notes (``sync``, ``ingest --prune``) names each note deleted; beyond ``--max-delete``
it stops before writing anything unless ``--yes`` (``rag_core.ingest.bulk_delete``), and the
deleted notes stay restorable from the trash (``rag-core trash``).

Every file that cannot be read is reported on a line of its own (``error CODE: FILE: ...`` on
standard error), the rest of the folder is ingested, and the exit code is 1 when any failed (0
otherwise; 2 for a caller's mistake such as a bad user or a single file that cannot be read, 3
for a failing dependency). The summary counts the values a reader derived that did not fit a
note and were dropped or shortened (``dropped=``; ``rag_core.ingest.readers.derived``). Both
record each note's folder, file and file hash, so a ``sync`` after an ``ingest`` of the same
folder skips what did not change.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from rag_core.cli.command import parts_of, settings_now
from rag_core.errors import InvalidNote
from rag_core.ingest.ingestion import check_user, ingest_notes
from rag_core.ingest.readers import ReadFailure, read_folder
from rag_core.ingest.sync import record_sources, sync_folder


def _report_failures(failures: list[ReadFailure]) -> None:
    for failure in failures:
        print(f"error {failure.code}: {failure.message}", file=sys.stderr)


def ingest_folder(args: argparse.Namespace) -> int:
    """``rag-core ingest`` (registered by ``rag_core.cli.parsers.notes``)."""
    check_user(args.user)
    found = read_folder(args.path)  # every file read before a service starts
    if not Path(args.path).is_dir() and found.failures:
        raise found.first_error() or InvalidNote(f"{args.path}: cannot be read")
    _report_failures(found.failures)
    if args.prune and not found.notes:
        raise InvalidNote(f"{args.path}: no notes found; refusing to prune every note of "
                          f"{args.user!r}")
    prune = args.prune and not found.failures  # a file that failed keeps its notes
    if args.prune and not prune:
        print(f"not pruned: {len(found.failures)} file(s) failed", file=sys.stderr)
    with parts_of(settings_now()) as parts:
        report = ingest_notes(parts, args.user, found.notes, progress=not args.quiet,
                              prune=prune, max_delete=args.max_delete, yes=args.yes)
        record_sources(parts.store, args.user, found)
    if args.json:
        data = {**report.to_dict(), "failed": [asdict(f) for f in found.failures],
                "dropped": found.dropped}
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        for note_id, status in report.statuses.items():
            if status == "deleted":
                print(f"deleted: {note_id}")
        counts = {**report.counts(), "failed": len(found.failures), "dropped": found.dropped}
        print(", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in counts.items()))
    return 1 if found.failures else 0


def cmd_sync(args: argparse.Namespace) -> int:
    check_user(args.user)
    with parts_of(settings_now()) as parts:
        report = sync_folder(parts, args.user, args.path, dry_run=args.dry_run,
                             progress=not args.quiet, max_delete=args.max_delete, yes=args.yes)
    _report_failures(report.failed)
    if args.json:
        data = {**asdict(report), "failed": [asdict(f) for f in report.failed]}
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        for what in ("added", "changed", "removed"):
            for note_id in getattr(report, what):
                print(f"{what if not args.dry_run else 'would be ' + what}: {note_id}")
        print(report.summary())
    return 1 if report.failed else 0
