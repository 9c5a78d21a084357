"""``rag-core backup FILE`` and ``rag-core restore FILE [--force]`` (``rag_core.ops.backup``)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rag_core.cli.command import Add


def _print(data: object, as_json: bool, line: str) -> None:
    print(json.dumps(data, indent=2, default=str) if as_json else line)


def cmd_backup(args: argparse.Namespace) -> int:
    from rag_core import services
    from rag_core.cli.args import env_settings
    from rag_core.ops import erasure_log
    from rag_core.ops.backup import backup

    settings = services.resolve(env_settings(), redis=False)  # PostgreSQL only
    # the log a restore of this backup reads: there from now on, empty while nobody is erased
    erasure_log.ensure(settings.services.erasure_log_file)
    report = backup(str(settings.services.database_url), args.file,
                    key_file=args.encrypt_key_file)
    rows = sum(report.manifest.tables.values())
    how = ("encrypted (age)" if report.manifest.encryption != "none"
           else "not encrypted")
    _print(asdict(report), args.json,
           f"backed up {rows} rows of {len(report.manifest.tables)} tables (schema "
           f"{report.manifest.schema_version}) to {report.path} ({how}, mode 0600): "
           f"{report.bytes:,} bytes in {report.seconds:.1f} s")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from rag_core import services
    from rag_core.cli.args import env_settings
    from rag_core.ops import erasure_log
    from rag_core.ops.backup import read_manifest, restore
    from rag_core.parts import build_redis
    from rag_core.store.pgvector import store_for

    read_manifest(args.file)  # a bad file is refused before any server starts
    settings = env_settings()
    log = None if args.no_erasure_log else settings.services.erasure_log_file
    if log is not None:
        erasure_log.read(log)  # a log that cannot be read: refused before any server starts
    settings = services.resolve(settings)
    store = store_for(settings)
    try:
        report = restore(str(settings.services.database_url), args.file, force=args.force,
                         client=build_redis(settings), migrate=store.ensure_schema,
                         erasure_log=log, key_file=args.encrypt_key_file)
    finally:
        store.close()
    replayed = (f"{report.erasures_replayed} erasures replayed from {log} "
                f"({report.erased_rows} rows erased again)" if log is not None
                else "no erasure replayed (--no-erasure-log)")
    _print(asdict(report), args.json,
           f"restored {sum(report.tables.values())} rows of {len(report.tables)} tables from "
           f"{report.path} in {report.seconds:.1f} s; {replayed}; {report.redis_keys_removed} "
           "Redis keys removed (caches cold, the ledger seeded again from PostgreSQL)")
    return 0


def register(add: Add) -> None:
    p = add("backup", cmd_backup, "Write a consistent copy of everything that is not a cache "
            "(notes, chunks and vectors, ledger, verdicts, query and audit logs) to FILE, with "
            "pg_dump, while the service runs.")
    p.add_argument("file", help="the backup file to write (created 0600)")
    p.add_argument("--encrypt-key-file", metavar="FILE",
                   help="encrypt the dump with age to the keys in FILE (AGE-SECRET-KEY-1... "
                   "or age1... lines, as age-keygen writes them)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p = add("restore", cmd_restore, "Restore a backup into an empty database (--force: "
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
