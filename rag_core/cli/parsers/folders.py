"""``rag-core sync``: its arguments, and the bound of bulk deletes it shares with ``ingest``
(run by ``rag_core.cli.folders``)."""

from __future__ import annotations

import argparse

from rag_core.cli.parsers import Add


def register(add: Add) -> None:
    """``sync`` (``ingest`` is registered by ``rag_core.cli.parsers.notes`` and runs
    ``rag_core.cli.folders.ingest_folder``)."""
    p = add("sync", "folders:cmd_sync", "Bring a user's notes in step with a folder: add new "
            "files, re-embed changed ones, delete notes whose file is gone.")
    p.add_argument("path", metavar="DIR", help="the folder of notes (any format of `ingest`)")
    p.add_argument("--user", required=True, help="the user who owns these notes")
    p.add_argument("--dry-run", action="store_true",
                   help="say what would be added, changed and removed; write nothing")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_delete_bound(p)


def add_delete_bound(p: argparse.ArgumentParser) -> None:
    """``--max-delete`` and ``--yes`` of the commands that delete notes in bulk."""
    p.add_argument("--max-delete", type=int, default=None, metavar="N", help=(
        "delete at most N notes without --yes (default: the larger of 10 and a fifth of the "
        "user's notes); beyond it nothing is changed, exit 2 CONFIRMATION_REQUIRED"))
    p.add_argument("--yes", action="store_true", help="delete beyond --max-delete")
