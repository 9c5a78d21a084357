"""Cost of a request, and daily budgets per user and in all, enforced under concurrency.

Every generation first *reserves* its worst-case cost (prompt tokens plus the whole output
budget) with one atomic Lua script that checks both the user's and the global budget, then
*commits* the real cost (or releases the reservation when nothing was generated). Concurrent
requests of one user therefore cannot together pass the cap.

States by the highest share of a budget in use, counting the request being reserved:
``ok``; ``alert`` at 80 %; ``tightened`` at 90 % (the pipeline halves the output budget); at
100 % ``BudgetExceeded``. Each stage is logged and counted (``budget_alerts_total``) once per
user and day.

Money state is never forgotten, and holds across processes. Three parts, one per state:
- ``CostRecords`` (PostgreSQL): the record of spend, written first (a row it does not take goes
  to a durable queue and is retried), and every process's open reservations.
- ``RedisTotals``: the running totals; a day key Redis lost (restart, eviction, failover, a file
  without the last writes) is seeded from PostgreSQL's spend and open reservations before it
  admits anything (never lowered).
- ``OutageBook``: while Redis is unreachable each process counts in process, starting from
  PostgreSQL's figure and allowed only ``fixed.BUDGET_OUTAGE_SHARE`` of what is left; what it
  spent is merged back when Redis returns. Without PostgreSQL too, paid generation pauses
  (``BudgetUnavailable``).

This module records; reading the figures back and the day's report are
``rag_core.costs.reporting``'s.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag_core.config import Money, Settings, fixed
from rag_core.costs.outage import OutageBook
from rag_core.costs.queue import CostQueue
from rag_core.costs.records import CostRecords, new_reservation_id
from rag_core.costs.requests import RequestCounts
from rag_core.costs.saved import SavedDollars
from rag_core.costs.states import BudgetStates
from rag_core.costs.totals import RedisTotals
from rag_core.errors import BudgetExceeded, BudgetUnavailable
from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient
from rag_core.redis_kv.keys import cost_keys, cost_user_key
from rag_core.store.costs import CostStore
from rag_core.telemetry import logs, metrics
from rag_core.types import TokenUsage

log = logging.getLogger("rag_core.costs.ledger")


def price(usage: TokenUsage, money: Money) -> float:
    """Dollars for one generation, from the price table of the money section."""
    return (usage.input_tokens * money.price_input_per_token_usd
            + usage.output_tokens * money.price_output_per_token_usd)


def never_negative(actual_usd: float, usage: TokenUsage) -> tuple[float, TokenUsage]:
    """A cost the ledger may record: one that is negative or not a number is logged and
    recorded as 0, with no negative token count (the ledger never goes below zero, whatever
    the caller computed)."""
    if math.isfinite(actual_usd) and actual_usd >= 0:
        return actual_usd, usage
    logs.log_event(log, logging.ERROR, "a negative or non-finite cost refused; recorded as 0",
                   cost=repr(actual_usd))
    return 0.0, TokenUsage(max(0, usage.input_tokens), max(0, usage.output_tokens))


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


@dataclass(frozen=True)
class Reservation:
    user_id: str
    day: str
    estimate: float
    state: str
    local: bool = False  # reserved in process (Redis unreachable), settled in process too
    reservation_id: str | None = None  # its row in PostgreSQL, while it is open there


def ledger_for(client: RedisClient | None, settings: Settings, costs: CostStore | None = None,
               queue: CostQueue | None = None, day: Callable[[], str] = today) -> CostLedger:
    """The ledger of ``settings``: their money section, and the queue of cost rows in their
    state folder unless ``queue`` is given."""
    queue = queue or CostQueue(Path(settings.services.state_dir).resolve() / "cost-queue")
    return CostLedger(client, settings.money, costs, queue, day)


class CostLedger:
    def __init__(self, client: RedisClient | None, money: Money, costs: CostStore | None,
                 queue: CostQueue, day: Callable[[], str] = today):
        self.client = client
        self.day = day  # the UTC day whose budget applies (a simulation passes its own)
        self.money = money  # prices and budgets
        self.records = CostRecords(costs, queue)
        # every request, paid or not (``reporting.report``)
        self.requests = RequestCounts(costs, day)
        self.pending_saved = SavedDollars(self._write_saved)  # what hits saved (``add_saved``)
        self.totals = RedisTotals(client) if client is not None else None
        # without a Redis configured, one process counts everything in process
        self.outage = OutageBook(1.0 if client is None else fixed.BUDGET_OUTAGE_SHARE)
        self.states = BudgetStates()  # ok, alert, tightened: each reported once
        self._warned = -1e9

    @property
    def queue(self) -> CostQueue:
        return self.records.queue

    # --- the three steps of a paid request --------------------------------------------------

    def reserve(self, user_id: str, estimate_usd: float) -> Reservation:
        day = self.day()
        caps = (self.money.user_daily_budget_usd, self.money.global_daily_budget_usd)
        local = self.totals is None
        if self.totals is not None:
            try:
                self._merge_back()
                ok, scope, values = self.totals.reserve(
                    day, user_id, estimate_usd, caps,
                    state=lambda: self.records.state(day, user_id))
            except REDIS_ERRORS as exc:
                self._warn_outage(exc)
                local = True
        if local:
            ok, scope, values = self._reserve_local(day, user_id, estimate_usd, caps)
        if not ok:
            metrics.BUDGET_ALERTS.labels(scope=scope, level="exceeded").inc()
            which = "your daily" if scope == "user" else "the service's daily"
            raise BudgetExceeded(f"This request would pass {which} budget; it resets at 00:00 UTC.")
        state = self.states.note(user_id, day, values, caps)
        rid = None
        if not local:  # held in Redis: recorded for every process's next seed
            rid = new_reservation_id()
            if not self.records.open(rid, day, user_id, estimate_usd):
                rid = None
        return Reservation(user_id, day, estimate_usd, state, local, rid)

    def commit(self, reservation: Reservation, actual_usd: float, usage: TokenUsage) -> None:
        """Record the real cost: PostgreSQL (or the durable queue) first, then the totals."""
        actual_usd, usage = never_negative(actual_usd, usage)
        self.records.record(reservation.day, reservation.user_id, actual_usd, usage,
                            reservation.reservation_id)
        self._settle(reservation, actual_usd, (usage.input_tokens, usage.output_tokens))

    def release(self, reservation: Reservation) -> None:
        """Give back a reservation whose generation produced nothing."""
        if reservation.reservation_id is not None:
            self.records.close(reservation.reservation_id)
        self._settle(reservation, 0.0, None)

    def _settle(self, reservation: Reservation, actual: float,
                usage: tuple[int, int] | None) -> None:
        keys = cost_keys(reservation.day, reservation.user_id)
        if not reservation.local and self.totals is not None:
            try:
                self.totals.settle(keys, reservation.estimate, actual, usage)
                return
            except REDIS_ERRORS:  # settled in process, merged back when Redis returns
                pass
        self.outage.settle(keys, actual, reservation.estimate, local=reservation.local,
                           merge=self.totals is not None)

    def close(self) -> None:
        """Write the request counts and saved dollars still pending (before the store
        closes)."""
        self.requests.flush()
        self.pending_saved.flush()

    def add_saved(self, user_id: str, usd: float) -> None:
        """What a cache hit saved this user today (``saved`` beside ``spent`` in the user's day
        key: one field per user and day, never per question), written in the background
        (``costs.saved``): the hit does no I/O for it. Read back by ``reporting.saved``."""
        if usd > 0:
            self.pending_saved.add(cost_user_key(today(), user_id), usd)

    def _write_saved(self, key: str, usd: float) -> None:
        """Fails open: a lost figure is informative only, never money."""
        if self.totals is not None:
            try:
                self.totals.add(key, "saved", usd)
                return
            except REDIS_ERRORS:
                pass
        self.outage.add(key, "saved", usd)

    # --- Redis away ------------------------------------------------------------------------

    def _merge_back(self) -> None:
        """Add what was counted in process during an outage to Redis (once it answers)."""
        if not self.outage.active or self.totals is None:
            return
        self.totals.client.ping()  # raises while Redis is still away: keep the outage state
        merged = self.totals.merge(self.outage.take_unmerged(), self.outage.keep_unmerged)
        if merged:
            logs.log_event(log, logging.INFO, "cost ledger in Redis again; outage spend merged",
                           ledgers=merged)

    def _warn_outage(self, exc: Exception) -> None:
        if time.monotonic() - self._warned >= 10:  # once per 10 s, not per request
            self._warned = time.monotonic()
            logs.log_event(log, logging.ERROR, "cost ledger in Redis unavailable; counting in "
                           "process on a share of what is left", error=type(exc).__name__,
                           share=fixed.BUDGET_OUTAGE_SHARE)

    def _reserve_local(self, day: str, user_id: str, estimate: float,
                       caps: tuple[float, float]) -> tuple[bool, str, list[float]]:
        keys = cost_keys(day, user_id)
        if self.outage.missing(keys):
            recorded = self.records.recorded(day, user_id)
            if recorded is None:
                raise BudgetUnavailable()
            self.outage.start(keys, recorded)
        return self.outage.reserve(keys, estimate, caps)
