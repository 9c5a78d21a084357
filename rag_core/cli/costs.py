"""``rag-core costs report``: a day's spend per user from the ledger (with the month projected),
or, with ``--period day|week|month``, the period as spent from PostgreSQL
(``rag_core.costs.history``: spent, saved, refused, the top users)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

from rag_core import services
from rag_core.cli.args import env_settings
from rag_core.costs.history import period_report
from rag_core.costs.reporting import report as day_report
from rag_core.parts import build_ledger, build_redis, build_store
from rag_core.store.pgvector import PgVectorStore


def cmd_costs(args: argparse.Namespace) -> int:
    settings = services.resolve(env_settings(), redis=args.period is None)
    store = build_store(settings)
    report: Mapping[str, object]  # a period's figures or a day's ledger, printed as JSON
    try:
        if args.period is not None:
            assert isinstance(store, PgVectorStore)  # build_store's: PostgreSQL is required
            report = period_report(store.pool.db, args.period, args.day,
                                   top=args.top).to_dict()
        else:
            report = day_report(build_ledger(settings, build_redis(settings), store),
                                day=args.day, top=args.top)
    finally:
        store.close()
    print(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    return 0
