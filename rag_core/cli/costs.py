"""``rag-core costs report``: a day's spend per user from the ledger (with the month projected),
or, with ``--period day|week|month``, the period as spent from PostgreSQL
(``rag_core.costs.history``: spent, saved, refused, the top users)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

from rag_core.cli.args import env_settings, int_between, iso_day
from rag_core.cli.command import Add


def cmd_costs(args: argparse.Namespace) -> int:
    from rag_core import services
    from rag_core.parts import build_ledger, build_redis, build_store

    settings = services.resolve(env_settings(), redis=args.period is None)
    store = build_store(settings)
    report: Mapping[str, object]  # a period's figures or a day's ledger, printed as JSON
    try:
        if args.period is not None:
            from rag_core.costs.history import period_report
            from rag_core.store.pgvector import PgVectorStore

            assert isinstance(store, PgVectorStore)  # build_store's: PostgreSQL is required
            report = period_report(store.pool.db, args.period, args.day,
                                   top=args.top).to_dict()
        else:
            from rag_core.costs.reporting import report as day_report

            report = day_report(build_ledger(settings, build_redis(settings), store),
                                day=args.day, top=args.top)
    finally:
        store.close()
    print(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    return 0


def register(add: Add) -> None:
    p = add("costs", cmd_costs, "Spend per user for a day, top users, projected month; with "
            "--period, a day, week or month as spent (from PostgreSQL).")
    p.add_argument("action", choices=["report"])
    p.add_argument("--day", type=iso_day, help="YYYY-MM-DD (default today, UTC); with "
                   "--period, the period's last day")
    p.add_argument("--period", choices=["day", "week", "month"], default=None,
                   help="spent, saved and refused over the day, its ISO week or its month")
    p.add_argument("--top", type=int_between(1, 10_000), default=10)
