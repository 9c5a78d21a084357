"""``rag-core cache`` (statistics, clearing): what an operator asks of a running deployment
(``rag-core costs``: ``cli.costs``; ``rag-core token``, a signed JWT: ``cli.remote``)."""

from __future__ import annotations

import argparse

from rag_core import services
from rag_core.cli.command import print_json, settings_now
from rag_core.parts import build_caches, build_redis, build_semantic_judge


def cmd_cache(args: argparse.Namespace) -> int:
    if args.user is not None:
        from rag_core.ingest.ingestion import check_user  # lazy: numpy etc., --user only

        check_user(args.user)  # a user id, never a pattern ('*' would reach every key)
    settings = services.resolve(settings_now(), postgres=False)  # Redis only
    caches = build_caches(settings, build_redis(settings), build_semantic_judge(settings))
    if args.action == "clear":
        removed = caches.clear(args.user)
        print(f"removed {removed} entries" + (f" of {args.user}" if args.user else ""))
        return 0
    print_json({name: s.to_dict() for name, s in caches.stats().items()})
    return 0
