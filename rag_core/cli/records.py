"""``rag-core feedback`` and ``rag-core querylog``: what the service kept, out for the harness."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from rag_core.config import fixed

Add = Callable[[str, Callable[[argparse.Namespace], int], str], Any]


def _records() -> tuple[Any, Any]:
    """The settings and the store (whose ``records`` hold verdicts and the query log)."""
    from rag_core import services
    from rag_core.config import Settings
    from rag_core.parts import build_store

    settings = services.resolve(Settings(), redis=False)  # PostgreSQL only
    return settings, build_store(settings)


def cmd_feedback(args: argparse.Namespace) -> int:
    from rag_core.answers.feedback import export_verdicts

    _, store = _records()
    try:
        counts = export_verdicts(store.records, args.out)
    finally:
        store.close()
    print(json.dumps({"out": str(args.out), **counts}))
    return 0


def cmd_querylog(args: argparse.Namespace) -> int:
    from rag_core.answers.log import export_query_log

    settings, store = _records()
    try:
        if args.action == "purge":
            print(json.dumps({"removed": store.records.purge_queries()}))
            return 0
        if not args.out:
            raise SystemExit("error INVALID_ARGS: querylog export needs OUT")
        days = args.days or fixed.QUERY_LOG_DAYS
        written = export_query_log(store.records, args.out, days)
    finally:
        store.close()
    print(json.dumps({"out": str(args.out), "lines": written, "days": days}))
    return 0


def add_record_commands(add: Add) -> None:
    p = add("feedback", cmd_feedback, "Write users' verdicts on answers as labelled items in "
            "the golden set's shape (OUT/qa, OUT/semantic_pairs, OUT/verdicts.jsonl).")
    p.add_argument("action", choices=["export"])
    p.add_argument("out", help="output folder")

    p = add("querylog", cmd_querylog, "Export the opt-in query log (RAG_QUERY_LOG=on) as the "
            "JSON lines notebook 03 replays (--param query_log=OUT), or purge it.")
    p.add_argument("action", choices=["export", "purge"])
    p.add_argument("out", nargs="?", help="with export: the JSON-lines file to write")
    p.add_argument("--days", type=int, default=None,
                   help="the last DAYS days (default 30, as long as the log is kept)")
