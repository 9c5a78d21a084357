"""``rag-core token`` (a signed JWT), ``rag-core cache`` (statistics, clearing) and
``rag-core costs`` (spend per user): what an operator asks of a running deployment."""

from __future__ import annotations

import argparse
import sys

from rag_core.cli.args import int_between, iso_day
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


def cmd_costs(args: argparse.Namespace) -> int:
    from rag_core import services
    from rag_core.parts import build_ledger, build_redis, build_store

    settings = services.resolve(settings_now())
    store = build_store(settings)
    try:
        report = build_ledger(settings, build_redis(settings), store).report(day=args.day,
                                                                              top=args.top)
    finally:
        store.close()
    print_json(report)
    return 0


def register(add: Add) -> None:
    p = add("token", cmd_token, "Print a signed JWT for a user (local use and load tests).")
    p.add_argument("--user", required=True)
    p.add_argument("--ttl", type=int_between(1, sys.maxsize), default=3600,
                   help="seconds until it expires (at most RAG_JWT_MAX_TTL_S, default 86400)")

    p = add("cache", cmd_cache, "Cache statistics, or clear the caches.")
    p.add_argument("action", choices=["stats", "clear"])
    p.add_argument("--user", help="with clear: only this user's entries")

    p = add("costs", cmd_costs, "Spend per user for a day, top users, projected month.")
    p.add_argument("action", choices=["report"])
    p.add_argument("--day", type=iso_day, help="YYYY-MM-DD (default today, UTC)")
    p.add_argument("--top", type=int_between(1, 10_000), default=10)
