"""``rag-core costs report``: its arguments (run by ``rag_core.cli.costs``)."""

from __future__ import annotations

from rag_core.cli.args import int_between, iso_day
from rag_core.cli.parsers import Add


def register(add: Add) -> None:
    p = add("costs", "costs:cmd_costs",
            "Spend per user for a day, top users, projected month; with "
            "--period, a day, week or month as spent (from PostgreSQL).")
    p.add_argument("action", choices=["report"])
    p.add_argument("--day", type=iso_day, help="YYYY-MM-DD (default today, UTC); with "
                   "--period, the period's last day")
    p.add_argument("--period", choices=["day", "week", "month"], default=None,
                   help="spent, saved and refused over the day, its ISO week or its month")
    p.add_argument("--top", type=int_between(1, 10_000), default=10)
