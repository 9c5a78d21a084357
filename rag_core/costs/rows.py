"""The shapes of the cost ledger's report: the spend of one user on a day as PostgreSQL or
Redis keeps it, that row with the user's requests by outcome, and the day's report as
``rag-core costs report`` prints it."""

from __future__ import annotations

from typing import TypedDict


class SpendRow(TypedDict):
    """What one user spent on a day: dollars and the model calls billed."""

    user_id: str
    cost_usd: float
    requests: int


class UserDay(SpendRow):
    """A spend row with every request of the user: ``requests`` is every request the
    pipeline saw, ``billed_requests`` the calls billed, ``outcomes`` the requests by outcome,
    ``rejected`` those turned away before the pipeline, by code."""

    billed_requests: int
    outcomes: dict[str, int]
    rejected: dict[str, int]


class RejectedTotals(TypedDict):
    """The day's requests turned away before the pipeline."""

    rejected_requests: int
    rejected: dict[str, int]
    rejected_unknown_caller: int


class CostReport(RejectedTotals):
    """A day's spend: per user (the ``top`` ones), in all, and the month projected."""

    day: str
    total_usd: float
    users: int
    requests: int
    top: list[UserDay]
    projected_month_usd: float
    user_daily_budget_usd: float
    global_daily_budget_usd: float
    queued_rows: int


class QueuedCost(TypedDict):
    """A cost the database did not take, kept in the queue's JSON lines until it does."""

    day: str
    user_id: str
    cost_usd: float
    input_tokens: int
    output_tokens: int
    reservation_id: str | None
