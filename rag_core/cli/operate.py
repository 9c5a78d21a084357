"""``rag-core token`` (a signed JWT) and ``rag-core cache`` (statistics, clearing): what an
operator asks of a running deployment (``rag-core costs``: ``cli.costs``)."""

from __future__ import annotations

import argparse
import sys

from rag_core.cli.args import int_between
from rag_core.cli.command import Add, print_json, settings_now


def cmd_token(args: argparse.Namespace) -> int:
    from rag_core.api.auth import issue_token

    print(issue_token(settings_now(), args.user, ttl_s=args.ttl))
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from rag_core import services
    from rag_core.parts import build_caches, build_redis, build_semantic_judge

    if args.user is not None:
        from rag_core.ingest.ingestion import check_user

        check_user(args.user)  # a user id, never a pattern ('*' would reach every key)
    settings = services.resolve(settings_now(), postgres=False)  # Redis only
    caches = build_caches(settings, build_redis(settings), build_semantic_judge(settings))
    if args.action == "clear":
        removed = caches.clear(args.user)
        print(f"removed {removed} entries" + (f" of {args.user}" if args.user else ""))
        return 0
    print_json({name: s.to_dict() for name, s in caches.stats().items()})
    return 0


def register(add: Add) -> None:
    p = add("token", cmd_token, "Print a signed JWT for a user (local use and load tests).")
    p.add_argument("--user", required=True)
    p.add_argument("--ttl", type=int_between(1, sys.maxsize), default=3600,
                   help="seconds until it expires (at most RAG_JWT_MAX_TTL_S, default 86400)")

    p = add("cache", cmd_cache, "Cache statistics, or clear the caches.")
    p.add_argument("action", choices=["stats", "clear"])
    p.add_argument("--user", help="with clear: only this user's entries")
