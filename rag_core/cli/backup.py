"""``rag-core backup FILE`` and ``rag-core restore FILE [--force]`` (``rag_core.ops.backup``)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rag_core import services
from rag_core.cli.args import env_settings
from rag_core.ops import erasure_log
from rag_core.ops.backup import backup, read_manifest, restore
from rag_core.parts import build_redis
from rag_core.store.pgvector import store_for


def _print(data: object, as_json: bool, line: str) -> None:
    print(json.dumps(data, indent=2, default=str) if as_json else line)


def cmd_backup(args: argparse.Namespace) -> int:
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
