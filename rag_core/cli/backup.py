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
    from rag_core.ops.backup import backup

    settings = services.resolve(env_settings(), redis=False)  # PostgreSQL only
    report = backup(str(settings.services.database_url), args.file)
    rows = sum(report.manifest.tables.values())
    _print(asdict(report), args.json,
           f"backed up {rows} rows of {len(report.manifest.tables)} tables (schema "
           f"{report.manifest.schema_version}) to {report.path}: {report.bytes:,} bytes in "
           f"{report.seconds:.1f} s")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from rag_core import services
    from rag_core.cli.args import env_settings
    from rag_core.ops.backup import read_manifest, restore
    from rag_core.parts import build_redis
    from rag_core.store.pgvector import store_for

    read_manifest(args.file)  # a bad file is refused before any server starts
    settings = services.resolve(env_settings())
    store = store_for(settings)
    try:
        report = restore(str(settings.services.database_url), args.file, force=args.force,
                         client=build_redis(settings), migrate=store.ensure_schema)
    finally:
        store.close()
    _print(asdict(report), args.json,
           f"restored {sum(report.tables.values())} rows of {len(report.tables)} tables from "
           f"{report.path} in {report.seconds:.1f} s; {report.redis_keys_removed} Redis keys "
           "removed (caches cold, the ledger seeded again from PostgreSQL)")
    return 0


def register(add: Add) -> None:
    p = add("backup", cmd_backup, "Write a consistent copy of everything that is not a cache "
            "(notes, chunks and vectors, ledger, verdicts, query and audit logs) to FILE, with "
            "pg_dump, while the service runs.")
    p.add_argument("file", help="the backup file to write")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p = add("restore", cmd_restore, "Restore a backup into an empty database (--force: "
            "replace the data there), then empty Redis of the service's keys as after a "
            "Redis loss.")
    p.add_argument("file", help="a file written by `rag-core backup`")
    p.add_argument("--force", action="store_true",
                   help="replace a database that holds data (in one transaction)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
