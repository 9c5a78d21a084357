"""``rag-core services`` (the embedded PostgreSQL and Redis) and ``rag-core migrate`` (the
schema, a deploy step)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rag_core import services
from rag_core.cli.command import print_json, settings_now
from rag_core.store.pgvector import store_for


def cmd_services(args: argparse.Namespace) -> int:
    settings = settings_now()
    if args.action == "up":
        ends = services.ensure_services(settings)
        print(f"postgres ({ends.postgres}): {services.mask(ends.database_url)}")
        print(f"redis    ({ends.redis}): {ends.redis_url}")
        print(f"state dir: {Path(settings.services.state_dir).resolve()}")
    elif args.action == "down":
        stopped = services.stop_all(settings)
        for name, done in stopped.items():
            print(f"{name}: {'stopped' if done else 'was not running (or is external)'}")
    else:
        print_json(services.status(settings))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the schema (a deploy step, before the app starts): idempotent, safe to race."""
    store = store_for(services.resolve(settings_now(), redis=False))
    try:
        applied = store.ensure_schema()
        print(f"applied migrations {', '.join(map(str, applied))}" if applied
              else "schema already up to date")
        if args.reindex:
            print("rebuilding the HNSW index (searches keep using the old one until it is done)",
                  flush=True)
            done = store.reindex()
            print(f"HNSW index rebuilt as {done['vector_type']} (m {done['m']}, "
                  f"ef_construction {done['ef_construction']}) in {done['seconds']:.1f} s")
    finally:
        store.close()
    return 0
