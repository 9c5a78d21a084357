"""Cost of a request, and daily budgets per user and in all, enforced under concurrency.

Every generation first *reserves* its worst-case cost (prompt tokens plus the whole output
budget) with one atomic Lua script that checks both the user's and the global budget, then
*commits* the real cost (or releases the reservation when nothing was generated). Concurrent
requests of one user therefore cannot together pass the cap.

States by the highest share of a budget in use, counting the request being reserved:
``ok``; ``alert`` at 80 %; ``tightened`` at 90 % (the pipeline halves the output budget); at
100 % ``BudgetExceeded``. Each stage is logged and counted (``budget_alerts_total``) once per
user and day.

Money state is never forgotten:
- PostgreSQL holds the record (``user_api_costs``), written first; a row it does not take goes
  to a durable queue (``cost_queue``) and is retried.
- Redis holds the running totals. A day key that Redis lost (restart, eviction, failover), or
  that a restarted server read back from its file (which may lack the last writes), is seeded
  from PostgreSQL before it admits anything (never lowered).
- While Redis is unreachable each process counts in process, starting from PostgreSQL's figure
  and allowed only ``fixed.BUDGET_OUTAGE_SHARE`` of what is left; what it spent is merged back when
  Redis returns. Without PostgreSQL too, paid generation pauses (``BudgetUnavailable``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag_core import observability as obs
from rag_core.config import Settings, fixed
from rag_core.costs import scripts as cost_scripts
from rag_core.costs.queue import CostQueue
from rag_core.errors import BudgetExceeded, BudgetUnavailable
from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient, slot_owner
from rag_core.redis_kv.keys import cost_keys, cost_user_of, cost_user_pattern
from rag_core.redis_kv.restarts import watch_of
from rag_core.store.base import CostStore
from rag_core.types import TokenUsage

log = logging.getLogger("rag_core.costs.ledger")

KEY_TTL_S = 3 * 86_400


def price(usage: TokenUsage, settings: Settings) -> float:
    """Dollars for one generation, from the price table in Settings."""
    return (usage.input_tokens * settings.price_input_per_token_usd
            + usage.output_tokens * settings.price_output_per_token_usd)


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


@dataclass(frozen=True)
class Reservation:
    user_id: str
    day: str
    estimate: float
    state: str
    local: bool = False  # reserved in process (Redis unreachable), settled in process too


class CostLedger:
    def __init__(self, client: RedisClient | None, settings: Settings,
                 store: CostStore | None = None, queue: CostQueue | None = None,
                 day: Callable[[], str] = today):
        self.client = client
        self.day = day  # the UTC day whose budget applies (a simulation passes its own)
        self.settings = settings
        self.store = store
        self.queue = queue or CostQueue(Path(settings.state_dir).resolve() / "cost-queue")
        self._lock = threading.Lock()
        # in-process counts while Redis is unreachable, per ledger key
        self._base: dict[str, float] = {}
        self._local: dict[str, dict[str, float]] = defaultdict(lambda: {"spent": 0.0,
                                                                        "reserved": 0.0})
        self._unmerged: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        # this process's reservations held in Redis and not settled yet, per ledger key: a
        # Redis that loses them (restart, failover) is seeded with them again (``SEED``)
        self._open: dict[str, float] = defaultdict(float)
        self._alerted: set[tuple[str, str, str]] = set()
        self._warned = -1e9
        if client is not None:
            self._scripts = {name: client.register_script(getattr(cost_scripts, name))
                             for name in ("RESERVE", "SEED", "COMMIT", "RELEASE", "MERGE")}

    # --- the three steps of a paid request --------------------------------------------------

    def reserve(self, user_id: str, estimate_usd: float) -> Reservation:
        day = self.day()
        caps = (self.settings.user_daily_budget_usd, self.settings.global_daily_budget_usd)
        local = self.client is None  # no Redis configured: one process, counting in process
        if not local:
            try:
                ok, scope, values = self._reserve_redis(day, user_id, estimate_usd, caps)
            except REDIS_ERRORS as exc:
                self._warn_outage(exc)
                local = True
        if local:
            ok, scope, values = self._reserve_local(day, user_id, estimate_usd, caps)
        if not ok:
            obs.BUDGET_ALERTS.labels(scope=scope, level="exceeded").inc()
            which = "your daily" if scope == "user" else "the service's daily"
            raise BudgetExceeded(f"This request would pass {which} budget; it resets at 00:00 UTC.")
        state = self._note_state(user_id, day, values, caps)
        if not local:
            self._hold(cost_keys(day, user_id), estimate_usd)
        return Reservation(user_id, day, estimate_usd, state, local)

    def _hold(self, keys: tuple[str, str], estimate: float) -> None:
        with self._lock:
            for key in keys:
                self._open[key] += estimate
                if self._open[key] <= 1e-12:
                    del self._open[key]

    def _held(self, keys: tuple[str, str]) -> tuple[float, float]:
        with self._lock:
            return self._open.get(keys[0], 0.0), self._open.get(keys[1], 0.0)

    def commit(self, reservation: Reservation, actual_usd: float, usage: TokenUsage) -> None:
        """Record the real cost: PostgreSQL (or the durable queue) first, then the totals."""
        self._record(reservation, actual_usd, usage)
        keys = cost_keys(reservation.day, reservation.user_id)
        if not reservation.local:
            self._hold(keys, -reservation.estimate)
            try:
                self._script("COMMIT", keys, reservation.estimate, actual_usd, 1,
                             usage.input_tokens, usage.output_tokens)
                return
            except REDIS_ERRORS:  # settled in process, merged back when Redis returns
                pass
        self._settle_local(reservation, actual_usd)

    def release(self, reservation: Reservation) -> None:
        """Give back a reservation whose generation produced nothing."""
        if not reservation.local:
            self._hold(cost_keys(reservation.day, reservation.user_id), -reservation.estimate)
            try:
                self._script("RELEASE", cost_keys(reservation.day, reservation.user_id),
                             reservation.estimate)
                return
            except REDIS_ERRORS:
                pass
        self._settle_local(reservation, 0.0)

    # --- reading ---------------------------------------------------------------------------

    def spend(self, user_id: str, day: str | None = None) -> float:
        return self._read(cost_keys(day or today(), user_id)[0], "spent")

    def reserved(self, user_id: str, day: str | None = None) -> float:
        """Dollars held by generations of this user that have not settled yet."""
        return self._read(cost_keys(day or today(), user_id)[0], "reserved")

    def add_saved(self, user_id: str, usd: float) -> None:
        """What a cache hit saved this user today (``saved`` beside ``spent`` in the user's day
        key: one field per user and day, never per question). Fails open: a lost figure is
        informative only, never money."""
        if usd <= 0:
            return
        key = cost_keys(today(), user_id)[0]
        if self.client is not None:
            try:
                pipe = self.client.pipeline(transaction=False)
                pipe.hincrbyfloat(key, "saved", usd)
                pipe.expire(key, KEY_TTL_S)
                pipe.execute()
                return
            except REDIS_ERRORS:
                pass
        with self._lock:
            bucket = self._local[key]
            bucket["saved"] = bucket.get("saved", 0.0) + usd

    def saved(self, user_id: str, day: str | None = None) -> float:
        """Dollars the caches saved this user on the day (``add_saved``)."""
        return self._read(cost_keys(day or today(), user_id)[0], "saved")

    def global_spend(self, day: str | None = None) -> float:
        return self._read(cost_keys(day or today(), "-")[1], "spent")

    def report(self, day: str | None = None, top: int = 10) -> dict[str, Any]:
        """Spend per user for a day, the top users, and the month projected from it."""
        day = day or today()
        dt.date.fromisoformat(day)  # a clear error for a bad --day
        rows = self._rows(day)
        total = sum(r["cost_usd"] for r in rows)
        elapsed = 1.0
        if day == today():
            now = dt.datetime.now(dt.UTC)
            elapsed = max((now.hour * 3600 + now.minute * 60 + now.second) / 86_400, 1 / 24)
        return {
            "day": day,
            "total_usd": round(total, 6),
            "users": len(rows),
            "top": rows[:top],
            "projected_month_usd": round(total / elapsed * 30, 4),
            "user_daily_budget_usd": self.settings.user_daily_budget_usd,
            "global_daily_budget_usd": self.settings.global_daily_budget_usd,
            "queued_rows": self.queue.pending(),
        }

    # --- Redis -----------------------------------------------------------------------------

    def _script(self, name: str, keys: tuple[str, str], *args: Any) -> Any:
        return self._scripts[name](keys=list(keys), args=[repr(a) if isinstance(a, float)
                                                          else a for a in args])

    def _reserve_redis(self, day: str, user_id: str, estimate: float,
                       caps: tuple[float, float]) -> tuple[bool, str, list[float]]:
        keys = cost_keys(day, user_id)
        self._merge_back()
        restarts = self._restarts()
        mark = self._mark(keys[0])
        result = self._script("RESERVE", keys, estimate, caps[0], caps[1], KEY_TTL_S, mark)
        if int(result[0]) == 1 and self._restarts() != restarts:
            # the call met a restarted server (a new connection saw a new run_id): the mark it
            # checked was the old server's, so the day it reserved against may be short
            self._script("RELEASE", keys, estimate)
            result = [-1]
        if int(result[0]) == -1:  # the day is not in Redis (new, forgotten, failed over): seed
            recorded = self._recorded(day, user_id)
            if recorded is None:
                raise BudgetUnavailable()
            mark = self._mark(keys[0])  # the slot map may have moved on meanwhile
            self._script("SEED", keys, recorded[0], recorded[1], KEY_TTL_S, mark,
                         *self._held(keys))
            result = self._script("RESERVE", keys, estimate, caps[0], caps[1], KEY_TTL_S, mark)
        if int(result[0]) == 1:  # [1, user total, global total]
            return True, "", [float(result[1]), float(result[2])]
        scope = result[1].decode() if isinstance(result[1], bytes) else str(result[1])
        return False, scope, [float(result[2])]  # [0, scope, total of that scope]

    def _restarts(self) -> int:
        """Server restarts seen so far by the client's connections (``RunIdWatch``)."""
        watch = watch_of(self.client)
        return watch.changes if watch is not None else 0

    def _mark(self, key: str) -> str:
        """Who seeds a day key: the slot's master in a cluster, a single server's ``run_id``
        (restarted from a file that lacks the last writes, it is seeded again), else ``1``."""
        watch = watch_of(self.client)
        if watch is not None and watch.run_id is None:  # the first connection reads it
            self.client.ping()  # type: ignore[union-attr]
        return slot_owner(self.client, key) or (watch.run_id if watch else None) or "1"  # type: ignore[arg-type]

    def _merge_back(self) -> None:
        """Add what was counted in process during an outage to Redis (once it answers)."""
        if not self._unmerged and not self._base:
            return
        self.client.ping()  # type: ignore[union-attr]  # raises while Redis is still away: keep the outage state
        with self._lock:
            pending, self._unmerged = dict(self._unmerged), defaultdict(lambda: [0.0, 0.0])
            self._base.clear()
            self._local.clear()
        for keys, (spent, reserved) in pending.items():
            try:
                self._script("MERGE", keys, spent, reserved)
            except REDIS_ERRORS:
                with self._lock:  # still down: keep it for the next time
                    row = self._unmerged[keys]
                    row[0] += spent
                    row[1] += reserved
                raise
        if pending:
            obs.log_event(log, logging.INFO, "cost ledger in Redis again; outage spend merged",
                          ledgers=len(pending))

    # --- in process, while Redis is unreachable --------------------------------------------

    def _warn_outage(self, exc: Exception) -> None:
        if time.monotonic() - self._warned >= 10:  # once per 10 s, not per request
            self._warned = time.monotonic()
            obs.log_event(log, logging.ERROR, "cost ledger in Redis unavailable; counting in "
                          "process on a share of what is left", error=type(exc).__name__,
                          share=fixed.BUDGET_OUTAGE_SHARE)

    def _reserve_local(self, day: str, user_id: str, estimate: float,
                       caps: tuple[float, float]) -> tuple[bool, str, list[float]]:
        keys = cost_keys(day, user_id)
        share = 1.0 if self.client is None else fixed.BUDGET_OUTAGE_SHARE
        with self._lock:
            missing = [k for k in keys if k not in self._base]
        if missing:
            recorded = self._recorded(day, user_id)
            if recorded is None:
                raise BudgetUnavailable()
            with self._lock:
                for key, value in zip(keys, recorded, strict=True):
                    self._base.setdefault(key, value)
        with self._lock:
            totals = []
            for scope, key, cap in zip(("user", "global"), keys, caps, strict=True):
                base, row = self._base[key], self._local[key]
                total = base + row["spent"] + row["reserved"] + estimate
                allowed = base + max(0.0, cap - base) * share
                totals.append(total)
                if total > allowed or base + row["spent"] >= cap:
                    return False, scope, [total - estimate]
            for key in keys:
                self._local[key]["reserved"] += estimate
            return True, "", totals

    def _settle_local(self, reservation: Reservation, actual: float) -> None:
        keys = cost_keys(reservation.day, reservation.user_id)
        with self._lock:
            for key in keys:
                row = self._local[key]
                row["spent"] += actual
                if reservation.local:
                    row["reserved"] = max(0.0, row["reserved"] - reservation.estimate)
            if self.client is not None:
                pending = self._unmerged[keys]
                pending[0] += actual
                if not reservation.local:  # held in Redis: drop it there when Redis returns
                    pending[1] += reservation.estimate

    def _read(self, key: str, field: str) -> float:
        if self.client is not None:
            try:
                value = self.client.hget(key, field)
                remote = float(value) if value is not None else 0.0
            except REDIS_ERRORS:
                return self._read_local(key, field)
            return max(0.0, remote) if field == "reserved" else remote
        return self._read_local(key, field)

    def _read_local(self, key: str, field: str) -> float:
        with self._lock:
            base = self._base.get(key, 0.0) if field == "spent" else 0.0
            return base + self._local.get(key, {}).get(field, 0.0)

    # --- PostgreSQL ------------------------------------------------------------------------

    def _recorded(self, day: str, user_id: str) -> tuple[float, float] | None:
        """The day's recorded spend (user, everyone), or None when it cannot be read."""
        if self.store is None:
            return (0.0, 0.0)
        try:
            return self.store.day_totals(day, user_id)
        except Exception as exc:  # the database is down: the caller decides
            obs.log_event(log, logging.ERROR, "cost record unreadable", error=type(exc).__name__)
            return None

    def _record(self, reservation: Reservation, actual: float, usage: TokenUsage) -> None:
        if self.store is None:
            return
        try:
            self.store.add_cost(reservation.day, reservation.user_id, actual,
                                usage.input_tokens, usage.output_tokens)
        except Exception:  # the answer is paid for: keep the row durably and retry
            self.queue.put({"day": reservation.day, "user_id": reservation.user_id,
                            "cost_usd": actual, "input_tokens": usage.input_tokens,
                            "output_tokens": usage.output_tokens})
            return
        self.queue.drain_due(self.store)

    def _rows(self, day: str) -> list[dict[str, Any]]:
        if self.store is not None:
            try:
                return [{"user_id": r["user_id"], "cost_usd": float(r["cost_usd"]),
                         "requests": int(r["requests"])} for r in self.store.costs_for_day(day)]
            except Exception:  # fall back to the live ledger
                pass
        rows = []
        if self.client is not None:
            try:
                for key in self.client.scan_iter(match=cost_user_pattern(day), count=500):
                    data = self.client.hgetall(key)
                    rows.append({"user_id": cost_user_of(key.decode()),
                                 "cost_usd": float(data.get(b"spent", 0)),
                                 "requests": int(data.get(b"requests", 0))})
            except REDIS_ERRORS:
                pass
        return sorted(rows, key=lambda r: -r["cost_usd"])

    # --- budget states ---------------------------------------------------------------------

    def _note_state(self, user_id: str, day: str, values: list[float],
                    caps: tuple[float, float]) -> str:
        user_share, global_share = values[0] / caps[0], values[1] / caps[1]
        share = max(user_share, global_share)
        state = ("tightened" if share >= fixed.BUDGET_TIGHTEN_RATIO
                 else "alert" if share >= fixed.BUDGET_ALERT_RATIO else "ok")
        if state != "ok" and (user_id, day, state) not in self._alerted:
            self._alerted.add((user_id, day, state))
            obs.BUDGET_ALERTS.labels(scope="user" if user_share >= global_share else "global",
                                     level=state).inc()
            obs.log_event(log, logging.WARNING, "budget threshold crossed", state=state,
                          user_hash=obs.hash_id(user_id), share=round(share, 3))
        return state
