"""Cost of a request, and daily budgets per user and in all, enforced under concurrency.

Every generation first *reserves* its worst-case cost (prompt tokens plus the whole output
budget) with one atomic Lua script that checks both the user's and the global budget, then
*commits* the real cost (or releases the reservation when it failed). Concurrent requests of one
user therefore cannot together pass the cap: the spend can exceed it by at most the difference
between one request's real and estimated cost, which is never positive when the estimate is
the worst case.

States by the highest share of a budget in use, counting the request being reserved:
``ok``; ``alert`` at 80 % (logged once per user and day, ``budget_alerts_total``);
``tightened`` at 90 % (the pipeline halves the output budget, so each answer costs less and
cached answers carry more of the load); at 100 % ``BudgetExceeded``.

When Redis is down the ledger keeps counting in process (one worker's view) and logs loudly:
availability wins over a perfect cross-worker cap for the length of the outage.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Any

import redis

from rag_core import observability as obs
from rag_core.cache.keys import cost_keys, cost_user_of, cost_user_pattern
from rag_core.config import Settings
from rag_core.errors import BudgetExceeded
from rag_core.store.base import CostStore
from rag_core.types import TokenUsage

log = logging.getLogger("rag_core.costs")

KEY_TTL_S = 3 * 86_400

_RESERVE = """
local us = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local ur = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local gs = tonumber(redis.call('HGET', KEYS[2], 'spent') or '0')
local gr = tonumber(redis.call('HGET', KEYS[2], 'reserved') or '0')
local est = tonumber(ARGV[1])
if us + ur + est > tonumber(ARGV[2]) or us >= tonumber(ARGV[2]) then
  return {0, 'user', tostring(us + ur)}
end
if gs + gr + est > tonumber(ARGV[3]) or gs >= tonumber(ARGV[3]) then
  return {0, 'global', tostring(gs + gr)}
end
redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', est)
redis.call('HINCRBYFLOAT', KEYS[2], 'reserved', est)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return {1, tostring(us + ur + est), tostring(gs + gr + est)}
"""

_COMMIT = """
redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', -tonumber(ARGV[1]))
redis.call('HINCRBYFLOAT', KEYS[2], 'reserved', -tonumber(ARGV[1]))
redis.call('HINCRBYFLOAT', KEYS[1], 'spent', ARGV[2])
redis.call('HINCRBYFLOAT', KEYS[2], 'spent', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'requests', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'requests', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'input_tokens', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'output_tokens', ARGV[5])
return 1
"""


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


class CostLedger:
    def __init__(self, client: redis.Redis | None, settings: Settings,
                 store: CostStore | None = None):
        self.client = client
        self.settings = settings
        self.store = store
        self._lock = threading.Lock()
        self._local: dict[str, dict[str, float]] = {}
        self._alerted: set[tuple[str, str, str]] = set()
        if client is not None:
            self._reserve_script = client.register_script(_RESERVE)
            self._commit_script = client.register_script(_COMMIT)

    @staticmethod
    def _keys(day: str, user_id: str) -> list[str]:
        return list(cost_keys(day, user_id))

    # --- the three steps of a paid request --------------------------------------------------

    def reserve(self, user_id: str, estimate_usd: float) -> Reservation:
        day = today()
        user_cap, global_cap = self.settings.user_daily_budget_usd, \
            self.settings.global_daily_budget_usd
        try:
            if self.client is None:
                raise redis.ConnectionError("no redis configured")
            result = self._reserve_script(
                keys=self._keys(day, user_id),
                args=[repr(estimate_usd), repr(user_cap), repr(global_cap), KEY_TTL_S])
            ok = int(result[0])
            if ok:  # [1, user total, global total]
                scope, values = "", [float(result[1]), float(result[2])]
            else:  # [0, scope, total of that scope]
                scope, values = result[1].decode(), [float(result[2])]
        except redis.RedisError as exc:
            ok, scope, values = self._reserve_local(day, user_id, estimate_usd, exc)
        if not ok:
            obs.BUDGET_ALERTS.labels(scope=scope, level="exceeded").inc()
            which = "your daily" if scope == "user" else "the service's daily"
            raise BudgetExceeded(f"This request would pass {which} budget; it resets at 00:00 UTC.")
        share = max(values[0] / user_cap, values[1] / global_cap)
        state = self._state(share)
        if state != "ok" and (user_id, day, state) not in self._alerted:
            # each stage (alert at 80 %, tightened at 90 %) is counted and logged once per
            # user and day
            self._alerted.add((user_id, day, state))
            obs.BUDGET_ALERTS.labels(scope="user" if values[0] / user_cap >= values[1] /
                                     global_cap else "global", level=state).inc()
            obs.log_event(log, logging.WARNING, "budget threshold crossed", state=state,
                          user_hash=obs.hash_id(user_id), share=round(share, 3))
        return Reservation(user_id, day, estimate_usd, state)

    def commit(self, reservation: Reservation, actual_usd: float, usage: TokenUsage) -> None:
        keys = self._keys(reservation.day, reservation.user_id)
        try:
            if self.client is None:
                raise redis.ConnectionError("no redis configured")
            self._commit_script(keys=keys, args=[repr(reservation.estimate), repr(actual_usd), 1,
                                                 usage.input_tokens, usage.output_tokens])
        except redis.RedisError:
            with self._lock:
                for key in keys:
                    row = self._local.setdefault(key, {"spent": 0.0, "reserved": 0.0})
                    row["reserved"] -= reservation.estimate
                    row["spent"] += actual_usd
        if self.store is not None:
            try:
                self.store.add_cost(reservation.day, reservation.user_id, actual_usd,
                                    usage.input_tokens, usage.output_tokens)
            except Exception as exc:  # the answer is already paid for; never fail it here
                obs.log_event(log, logging.ERROR, "could not persist cost", error=str(exc))

    def release(self, reservation: Reservation) -> None:
        """Give back a reservation whose generation failed."""
        keys = self._keys(reservation.day, reservation.user_id)
        try:
            if self.client is None:
                raise redis.ConnectionError("no redis configured")
            pipe = self.client.pipeline()
            for key in keys:
                pipe.hincrbyfloat(key, "reserved", -reservation.estimate)
            pipe.execute()
        except redis.RedisError:
            with self._lock:
                for key in keys:
                    row = self._local.setdefault(key, {"spent": 0.0, "reserved": 0.0})
                    row["reserved"] -= reservation.estimate

    # --- reading ---------------------------------------------------------------------------

    def spend(self, user_id: str, day: str | None = None) -> float:
        return self._read(self._keys(day or today(), user_id)[0])

    def reserved(self, user_id: str, day: str | None = None) -> float:
        """Dollars held by generations of this user that have not settled yet."""
        return self._read(self._keys(day or today(), user_id)[0], "reserved")

    def global_spend(self, day: str | None = None) -> float:
        return self._read(self._keys(day or today(), "-")[1])

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
        }

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
                    name = cost_user_of(key.decode())
                    data = self.client.hgetall(key)
                    rows.append({"user_id": name, "cost_usd": float(data.get(b"spent", 0)),
                                 "requests": int(data.get(b"requests", 0))})
            except redis.RedisError:
                pass
        return sorted(rows, key=lambda r: -r["cost_usd"])

    def _read(self, key: str, field: str = "spent") -> float:
        try:
            if self.client is None:
                raise redis.ConnectionError("no redis configured")
            value = self.client.hget(key, field)
            return float(value) if value is not None else 0.0
        except redis.RedisError:
            with self._lock:
                return self._local.get(key, {}).get(field, 0.0)

    def _reserve_local(self, day: str, user_id: str, estimate: float,
                       exc: Exception) -> tuple[int, str, list[float]]:
        if self.client is not None:
            obs.log_event(log, logging.ERROR, "cost ledger in Redis unavailable; counting in "
                          "process", error=type(exc).__name__)
        caps = (self.settings.user_daily_budget_usd, self.settings.global_daily_budget_usd)
        with self._lock:
            rows = [self._local.setdefault(k, {"spent": 0.0, "reserved": 0.0})
                    for k in self._keys(day, user_id)]
            totals = [r["spent"] + r["reserved"] + estimate for r in rows]
            for scope, total, row, cap in zip(("user", "global"), totals, rows, caps,
                                              strict=True):
                if total > cap or row["spent"] >= cap:
                    return 0, scope, totals
            for row in rows:
                row["reserved"] += estimate
            return 1, "", totals

    def _state(self, share: float) -> str:
        if share >= self.settings.budget_tighten_ratio:
            return "tightened"
        if share >= self.settings.budget_alert_ratio:
            return "alert"
        return "ok"
