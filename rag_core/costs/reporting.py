"""What the cost ledger recorded, read: a user's figures of a day (spent, reserved, saved), the
day's spend of everyone, and the day's report that ``rag-core costs report`` prints. The ledger
(``rag_core.costs.ledger``) records; nothing here changes money state.

A running figure is read where the ledger keeps it: Redis's day key, or, while Redis is away, the
ledger's outage book. The report reads PostgreSQL (the live totals in Redis when the database is
down) and every request counted, paid or not.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from rag_core.costs.ledger import CostLedger, today
from rag_core.costs.requests import ANYONE, REJECTED
from rag_core.costs.rows import CostReport, RejectedTotals, SpendRow, UserDay
from rag_core.redis_kv.client import REDIS_ERRORS
from rag_core.redis_kv.keys import cost_global_key, cost_user_key


def spend(ledger: CostLedger, user_id: str, day: str | None = None) -> float:
    """Dollars the user's generations cost on the day (default today, UTC)."""
    return _figure(ledger, cost_user_key(day or today(), user_id), "spent")


def reserved(ledger: CostLedger, user_id: str, day: str | None = None) -> float:
    """Dollars held by generations of this user that have not settled yet."""
    return _figure(ledger, cost_user_key(day or today(), user_id), "reserved")


def saved(ledger: CostLedger, user_id: str, day: str | None = None) -> float:
    """Dollars the caches saved this user on the day (``CostLedger.add_saved``)."""
    ledger.pending_saved.flush()  # this process's own hits are in the figure
    return _figure(ledger, cost_user_key(day or today(), user_id), "saved")


def global_spend(ledger: CostLedger, day: str | None = None) -> float:
    """Dollars everyone's generations cost on the day."""
    return _figure(ledger, cost_global_key(day or today()), "spent")


def report(ledger: CostLedger, day: str | None = None, top: int = 10) -> CostReport:
    """Spend per user for a day, the top users, and the month projected from it. Every
    request counts (``requests``, and by outcome in ``outcomes``), also those that cost
    nothing; ``billed_requests`` are the model calls billed. Requests turned away before
    the pipeline are beside them (``rejected``: per user by code, and in all,
    ``rejected_requests``, with those whose caller is not known)."""
    day = day or today()
    dt.date.fromisoformat(day)  # a clear error for a bad --day
    ledger.requests.flush()  # this process's own requests are in the figures
    counted = ledger.records.requests(day) or {}
    rows = with_requests(_rows(ledger, day), counted)
    total = sum(r["cost_usd"] for r in rows)
    elapsed = 1.0
    if day == today():
        now = dt.datetime.now(dt.UTC)
        elapsed = max((now.hour * 3600 + now.minute * 60 + now.second) / 86_400, 1 / 24)
    turned_away = rejected_totals(counted)
    return {
        "day": day,
        "total_usd": round(total, 6),
        "users": len(rows),
        "requests": sum(r["requests"] for r in rows),
        "rejected_requests": turned_away["rejected_requests"],
        "rejected": turned_away["rejected"],
        "rejected_unknown_caller": turned_away["rejected_unknown_caller"],
        "top": rows[:top],
        "projected_month_usd": round(total / elapsed * 30, 4),
        "user_daily_budget_usd": ledger.money.user_daily_budget_usd,
        "global_daily_budget_usd": ledger.money.global_daily_budget_usd,
        "queued_rows": ledger.queue.pending(),
    }


def _rows(ledger: CostLedger, day: str) -> list[SpendRow]:
    rows = ledger.records.rows(day)
    if rows is not None:
        return rows
    live: list[SpendRow] = []
    if ledger.totals is not None:  # the database is down: the live ledger
        with contextlib.suppress(*REDIS_ERRORS):
            live = ledger.totals.rows(day)
    return sorted(live, key=lambda r: -r["cost_usd"])


def _figure(ledger: CostLedger, key: str, field: str) -> float:
    """One field of a day key: from Redis, else from the ledger's outage book."""
    if ledger.totals is not None:
        try:
            return ledger.totals.read(key, field)
        except REDIS_ERRORS:
            pass
    return ledger.outage.read(key, field)


def _split(outcomes: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """A user's counts as (the pipeline's outcomes, the rejections before it by code)."""
    answered = {o: n for o, n in sorted(outcomes.items()) if not o.startswith(REJECTED)}
    rejected = {o[len(REJECTED):]: n for o, n in sorted(outcomes.items())
                if o.startswith(REJECTED)}
    return answered, rejected


def with_requests(rows: list[SpendRow],
                  counted: dict[str, dict[str, int]] | None) -> list[UserDay]:
    """The spend rows (``requests``: the calls billed) with every request of each user by
    outcome: a user whose requests all cost nothing gets a row of $0. ``requests`` becomes
    every request the pipeline saw (at least the calls billed, should a count be missing),
    ``billed_requests`` the calls billed, ``outcomes`` those requests by outcome, ``rejected``
    the requests turned away before the pipeline by code; most spend first, then most
    requests. Requests whose caller is not known have no row (``rejected_totals``)."""
    counted = counted or {}
    spends = {r["user_id"]: r for r in rows}
    out: list[UserDay] = []
    for user_id in (set(spends) | set(counted)) - {ANYONE}:
        spent = spends.get(user_id, SpendRow(user_id=user_id, cost_usd=0.0, requests=0))
        outcomes, rejected = _split(counted.get(user_id, {}))
        billed = int(spent["requests"])
        out.append(UserDay(user_id=spent["user_id"], cost_usd=spent["cost_usd"],
                           requests=max(billed, sum(outcomes.values())),
                           billed_requests=billed, outcomes=outcomes, rejected=rejected))
    return sorted(out, key=lambda r: (-r["cost_usd"], -r["requests"], r["user_id"]))


def rejected_totals(counted: dict[str, dict[str, int]]) -> RejectedTotals:
    """The day's requests turned away before the pipeline: in all (``rejected_requests``), by
    code (``rejected``) and those whose caller is not known (``rejected_unknown_caller``)."""
    by_code: dict[str, int] = {}
    for outcomes in counted.values():
        for code, n in _split(outcomes)[1].items():
            by_code[code] = by_code.get(code, 0) + n
    return {"rejected_requests": sum(by_code.values()), "rejected": dict(sorted(by_code.items())),
            "rejected_unknown_caller": sum(_split(counted.get(ANYONE, {}))[1].values())}
