"""``rag-core users erase USER``: one user's notes, chunks, caches, verdicts, query log lines,
limits and reservations out of PostgreSQL and Redis (``rag_core.ops.erase``)."""

from __future__ import annotations

import argparse
import json
import sys

from rag_core import services
from rag_core.answers.log import query_log_key
from rag_core.cli.args import env_settings
from rag_core.errors import UserNotFound
from rag_core.ingest.ingestion import check_user
from rag_core.ops.erase import erase_user
from rag_core.parts import build_caches, build_redis, build_semantic_judge, build_store


def cmd_users(args: argparse.Namespace) -> int:
    check_user(args.user)  # before any server starts
    settings = services.resolve(env_settings())
    store = build_store(settings)
    try:
        client = build_redis(settings)
        caches = build_caches(settings, client, build_semantic_judge(settings), store)
        try:
            erasure = erase_user(store, caches, client, args.user,
                                 log_key=query_log_key(settings), actor="cli",
                                 erasure_log=settings.services.erasure_log_file)
        except UserNotFound as exc:  # "no such user": exit 1, nothing touched
            print(f"error {exc.code}: {exc.message}", file=sys.stderr)
            return 1
        finally:
            caches.close()
    finally:
        store.close()
    if args.json:
        print(json.dumps(erasure.to_dict(), indent=2))
    else:
        rows = ", ".join(f"{k}={v}" for k, v in sorted(erasure.rows.items())) or "no rows"
        print(f"erased user (audit key {erasure.user_key[:16]}...): {rows}; "
              f"{erasure.redis_keys} Redis keys or entries")
    return 0
