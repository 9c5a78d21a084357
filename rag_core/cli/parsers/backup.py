"""``rag-core backup`` and ``rag-core restore``: their arguments (run by
``rag_core.cli.backup``)."""

from __future__ import annotations

from rag_core.cli.parsers import Add


def register(add: Add) -> None:
    p = add("backup", "backup:cmd_backup",
            "Write a consistent copy of everything that is not a cache "
            "(notes, chunks and vectors, ledger, verdicts, query and audit logs) to FILE, with "
            "pg_dump, while the service runs.")
    p.add_argument("file", help="the backup file to write (created 0600)")
    p.add_argument("--encrypt-key-file", metavar="FILE",
                   help="encrypt the dump with age to the keys in FILE (AGE-SECRET-KEY-1... "
                   "or age1... lines, as age-keygen writes them)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p = add("restore", "backup:cmd_restore", "Restore a backup into an empty database (--force: "
            "replace the data there), replaying the erasures made since the backup (the "
            "erasure log), then empty Redis of the service's keys as after a Redis loss.")
    p.add_argument("file", help="a file written by `rag-core backup`")
    p.add_argument("--force", action="store_true",
                   help="replace a database that holds data (in one transaction)")
    p.add_argument("--encrypt-key-file", metavar="FILE",
                   help="the age key (AGE-SECRET-KEY-1...) of an encrypted backup")
    p.add_argument("--no-erasure-log", action="store_true",
                   help="restore without replaying the erasure log (RAG_ERASURE_LOG): the "
                   "users erased since the backup come back")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
