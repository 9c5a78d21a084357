"""Cost history from PostgreSQL: a day, a week or a month as spent (``rag-core costs report
--period``, and the caller's own figures in ``/v1/stats``).

A period ends on a day (default today, UTC): ``day`` is that day, ``week`` its ISO week from
Monday, ``month`` its calendar month from the 1st. Per user and in all:

- ``spent_usd``: what the model calls cost (``user_api_costs``);
- ``saved_usd``: what the answers served from a cache would have cost, estimated as those
  answers (outcomes ``cached`` and ``stale``) times the mean cost of one billed call of the
  same user in the period (of everyone when the user has none): PostgreSQL keeps counts of
  cached answers, not the price each one avoided;
- ``refused_requests``: requests the service turned away (outcome ``refused`` by the input
  guard, and every rejection before the pipeline: budget, limits, bad input), with the
  rejections by code in ``rejected``.

Rows of the anonymous key of erased users (``~erased``) count in the totals, never in the top.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any

from rag_core.costs.requests import ANYONE, REJECTED
from rag_core.errors import InvalidArgument
from rag_core.store.sql.erasure import ANONYMOUS_USER
from rag_core.store.sql.history import REQUESTS_BETWEEN, SPEND_BETWEEN
from rag_core.types import JsonObject

PERIODS = ("day", "week", "month")
SAVED_OUTCOMES = ("cached", "stale")
Connect = Callable[[str], AbstractContextManager[Any]]


@dataclass
class Figures:
    spent_usd: float = 0.0
    saved_usd: float = 0.0
    billed_requests: int = 0
    requests: int = 0
    refused_requests: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass
class UserFigures(Figures):
    user_id: str = ""


@dataclass(frozen=True)
class PeriodReport:
    period: str
    start: str
    end: str
    total: Figures
    top: list[UserFigures]

    def to_dict(self) -> JsonObject:
        return asdict(self)


def span(period: str, end: str | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day of ``period`` ending on ``end`` (default today, UTC)."""
    if period not in PERIODS:
        raise InvalidArgument(f"--period must be one of {', '.join(PERIODS)}, not {period!r}.")
    last = dt.date.fromisoformat(end) if end else dt.datetime.now(dt.UTC).date()
    if period == "day":
        return last, last
    if period == "week":
        return last - dt.timedelta(days=last.weekday()), last
    return last.replace(day=1), last


def period_report(db: Connect, period: str, end: str | None = None, *, top: int = 10,
                  user_id: str | None = None) -> PeriodReport:
    """The period's figures from PostgreSQL: per user (most spend first, ``top`` of them; only
    ``user_id``'s when given) and in all."""
    start, last = span(period, end)
    params = {"start": start, "end": last, "user_id": user_id}
    with db("cost history") as conn:
        spend = conn.execute(SPEND_BETWEEN, params).fetchall()
        counts = conn.execute(REQUESTS_BETWEEN, params).fetchall()
    users: dict[str, UserFigures] = defaultdict(UserFigures)
    for uid, cost, billed, _, _ in spend:
        row = users[str(uid)]
        row.spent_usd, row.billed_requests = float(cost or 0.0), int(billed or 0)
    served: dict[str, int] = defaultdict(int)
    for uid, outcome, n in counts:
        row, outcome, n = users[str(uid)], str(outcome), int(n)
        if outcome.startswith(REJECTED):
            code = outcome[len(REJECTED):]
            row.rejected[code] = row.rejected.get(code, 0) + n
            row.refused_requests += n
            continue
        row.requests += n
        if outcome == "refused":
            row.refused_requests += n
        if outcome in SAVED_OUTCOMES:
            served[str(uid)] += n
    total = Figures()
    total.spent_usd = sum(r.spent_usd for r in users.values())
    total.billed_requests = sum(r.billed_requests for r in users.values())
    mean = total.spent_usd / total.billed_requests if total.billed_requests else 0.0
    for uid, row in users.items():
        row.user_id = uid
        row.requests = max(row.requests, row.billed_requests)
        own = row.spent_usd / row.billed_requests if row.billed_requests else mean
        row.saved_usd = round(served[uid] * own, 6)
        row.spent_usd = round(row.spent_usd, 6)
        total.saved_usd += row.saved_usd
        total.requests += row.requests
        total.refused_requests += row.refused_requests
        for code, n in row.rejected.items():
            total.rejected[code] = total.rejected.get(code, 0) + n
    total.spent_usd, total.saved_usd = round(total.spent_usd, 6), round(total.saved_usd, 6)
    ranked = sorted((r for u, r in users.items() if u not in (ANYONE, ANONYMOUS_USER)),
                    key=lambda r: (-r.spent_usd, -r.requests, r.user_id))
    return PeriodReport(period, start.isoformat(), last.isoformat(), total, ranked[:top])


def user_periods(db: Connect, user_id: str) -> dict[str, JsonObject]:
    """One user's figures for each period ending today (``/v1/stats``: ``history``)."""
    out: dict[str, JsonObject] = {}
    for period in PERIODS:
        report = period_report(db, period, user_id=user_id, top=1)
        mine = asdict(report.top[0] if report.top else UserFigures(user_id=user_id))
        out[period] = {"start": report.start, "end": report.end,
                       **{k: v for k, v in mine.items() if k not in ("user_id", "rejected")}}
    return out
