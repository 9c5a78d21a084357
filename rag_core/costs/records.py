"""The ledger's PostgreSQL side: the day's recorded spend, every row kept, and the open
reservations of every process.

Money state is never forgotten: a cost row that PostgreSQL does not take goes to a durable
queue (``cost_queue``) and is retried. A reservation is recorded once Redis admitted it, so a
Redis that lost its memory is seeded with what all processes hold open, not only with the
seeding process's own. A failing database never blocks a paid request that Redis can still
admit: its reservation then counts only in the process that made it.
"""

from __future__ import annotations

import logging
import uuid

from rag_core.costs.queue import CostQueue
from rag_core.costs.rows import QueuedCost, SpendRow
from rag_core.store.costs import CostStore, DayState
from rag_core.telemetry import logs
from rag_core.types import TokenUsage

log = logging.getLogger("rag_core.costs.ledger")

# A reservation older than this belongs to a generation that died (its worker was killed): it
# no longer counts. Well beyond what the LLM timeouts let one generation take (a 20 s retry
# budget, 30 s per read, 400 output tokens).
RESERVATION_MAX_AGE_S = 600.0


def new_reservation_id() -> str:
    return uuid.uuid4().hex


class CostRecords:
    def __init__(self, costs: CostStore | None, queue: CostQueue) -> None:
        self.costs = costs
        self.queue = queue

    def recorded(self, day: str, user_id: str) -> tuple[float, float] | None:
        """The day's recorded spend (user, everyone), or None when it cannot be read."""
        if self.costs is None:
            return (0.0, 0.0)
        try:
            return self.costs.day_totals(day, user_id)
        except Exception as exc:  # the database is down: the caller decides
            logs.log_event(log, logging.ERROR, "cost record unreadable", error=type(exc).__name__)
            return None

    def state(self, day: str, user_id: str) -> DayState | None:
        """The day's spend and what every process holds open, in one snapshot; None when the
        database cannot say."""
        if self.costs is None:
            return DayState((0.0, 0.0), (0.0, 0.0))
        try:
            return self.costs.day_state(day, user_id, RESERVATION_MAX_AGE_S)
        except Exception as exc:
            logs.log_event(log, logging.ERROR, "cost record unreadable", error=type(exc).__name__)
            return None

    def open(self, reservation_id: str, day: str, user_id: str, estimate: float) -> bool:
        """Record a reservation that Redis admitted; False when the database did not take it
        (it then counts in this process only)."""
        if self.costs is None:
            return False
        try:
            self.costs.reserve(reservation_id, day, user_id, estimate)
            return True
        except Exception as exc:
            logs.log_event(log, logging.WARNING, "cost reservation not recorded",
                           error=type(exc).__name__)
            return False

    def close(self, reservation_id: str) -> None:
        """A reservation released (refused, or nothing generated). A row left behind by a
        failure only holds budget until it is ``RESERVATION_MAX_AGE_S`` old."""
        if self.costs is None:
            return
        try:
            self.costs.release(reservation_id)
        except Exception as exc:
            logs.log_event(log, logging.WARNING, "cost reservation not closed",
                           error=type(exc).__name__)

    def record(self, day: str, user_id: str, actual: float, usage: TokenUsage,
               reservation_id: str | None) -> None:
        """The real cost, and the reservation closed in the same transaction."""
        if self.costs is None:
            return
        try:
            self.costs.add_cost(day, user_id, actual, usage.input_tokens, usage.output_tokens,
                                reservation_id=reservation_id)
        except Exception:  # the answer is paid for: keep the row durably and retry
            self.queue.put(QueuedCost(day=day, user_id=user_id, cost_usd=actual,
                                      input_tokens=usage.input_tokens,
                                      output_tokens=usage.output_tokens,
                                      reservation_id=reservation_id))
            return
        self.queue.drain_due(self.costs)

    def rows(self, day: str) -> list[SpendRow] | None:
        """Spend per user for a day, most first; None when the database cannot say."""
        if self.costs is None:
            return None
        try:
            return [{"user_id": r["user_id"], "cost_usd": float(r["cost_usd"]),
                     "requests": int(r["requests"])} for r in self.costs.costs_for_day(day)]
        except Exception:
            return None

    def requests(self, day: str) -> dict[str, dict[str, int]] | None:
        """Every request of the day, user -> outcome -> count; None when the database cannot
        say."""
        if self.costs is None:
            return None
        try:
            return self.costs.requests_for_day(day)
        except Exception:
            return None
