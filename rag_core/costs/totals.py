"""The ledger's running totals in Redis: one hash per user and day and one for everyone, in
one hash slot, changed only by the atomic scripts of ``rag_core.costs.scripts``.

A day key that Redis does not hold as seeded through the server serving it now (new, lost in a
restart, evicted, failed over, or read back from a file that lacks the last writes) is seeded
before it admits anything: the day's spend from PostgreSQL (never lowered) and the reservations
that every process holds open (``CostRecords.held``), so that no process's generations in
flight are forgotten.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from rag_core.costs import scripts as cost_scripts
from rag_core.costs.rows import SpendRow
from rag_core.errors import BudgetUnavailable
from rag_core.redis_kv.client import RedisClient, slot_owner
from rag_core.redis_kv.keys import cost_keys, cost_user_of, cost_user_pattern
from rag_core.redis_kv.restarts import watch_of
from rag_core.store.costs import DayState

KEY_TTL_S = 3 * 86_400

Totals = tuple[float, float]


class RedisTotals:
    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._scripts = {name: client.register_script(getattr(cost_scripts, name))
                         for name in ("RESERVE", "SEED", "COMMIT", "RELEASE", "MERGE")}
        self._lock = threading.Lock()
        # this process's reservations held in Redis and not settled yet, per ledger key (what a
        # seed counts when PostgreSQL cannot say what all processes hold)
        self._open: dict[str, float] = defaultdict(float)

    def script(self, name: str, keys: tuple[str, str], *args: Any) -> Any:
        return self._scripts[name](keys=list(keys), args=[repr(a) if isinstance(a, float)
                                                          else a for a in args])

    def reserve(self, day: str, user_id: str, estimate: float, caps: Totals, *,
                state: Callable[[], DayState | None]) -> tuple[bool, str, list[float]]:
        """Admit ``estimate`` against both caps, seeding the day first when it must be from
        ``state``: PostgreSQL's spend and every process's open reservations."""
        keys = cost_keys(day, user_id)
        restarts = self._restarts()
        mark = self._mark(keys[0])
        result = self.script("RESERVE", keys, estimate, caps[0], caps[1], KEY_TTL_S, mark)
        if int(result[0]) == 1 and self._restarts() != restarts:
            # the call met a restarted server (a new connection saw a new run_id): the mark it
            # checked was the old server's, so the day it reserved against may be short
            self.script("RELEASE", keys, estimate)
            result = [-1]
        if int(result[0]) == -1:  # the day is not in Redis (new, forgotten, failed over): seed
            recorded = state()
            if recorded is None:
                raise BudgetUnavailable()
            mine = self._held(keys)  # includes any not recorded yet
            holding = (max(mine[0], recorded.held[0]), max(mine[1], recorded.held[1]))
            mark = self._mark(keys[0])  # the slot map may have moved on meanwhile
            self.script("SEED", keys, *recorded.spent, KEY_TTL_S, mark, *holding)
            result = self.script("RESERVE", keys, estimate, caps[0], caps[1], KEY_TTL_S, mark)
        if int(result[0]) == 1:  # [1, user total, global total]
            self._hold(keys, estimate)
            return True, "", [float(result[1]), float(result[2])]
        scope = result[1].decode() if isinstance(result[1], bytes) else str(result[1])
        return False, scope, [float(result[2])]  # [0, scope, total of that scope]

    def settle(self, keys: tuple[str, str], estimate: float, actual: float,
               usage: tuple[int, int] | None) -> None:
        """Commit (``usage`` given) or release a reservation held here; raises when Redis
        fails (the caller settles it in process)."""
        self._hold(keys, -estimate)
        if usage is None:
            self.script("RELEASE", keys, estimate)
        else:
            self.script("COMMIT", keys, estimate, actual, 1, usage[0], usage[1])

    def merge(self, pending: dict[tuple[str, str], list[float]],
              keep: Callable[[tuple[str, str], float, float], None]) -> int:
        """Add what was counted in process during an outage; what Redis refuses goes back to
        ``keep`` and the error is raised."""
        for keys, (spent, reserved) in pending.items():
            try:
                self.script("MERGE", keys, spent, reserved)
            except Exception:
                keep(keys, spent, reserved)
                raise
        return len(pending)

    def read(self, key: str, field: str) -> float:
        value = self.client.hget(key, field)
        remote = float(value) if value is not None else 0.0
        return max(0.0, remote) if field == "reserved" else remote

    def add(self, key: str, field: str, amount: float) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrbyfloat(key, field, amount)
        pipe.expire(key, KEY_TTL_S)
        pipe.execute()

    def rows(self, day: str) -> list[SpendRow]:
        rows: list[SpendRow] = []
        for key in self.client.scan_iter(match=cost_user_pattern(day), count=500):
            data = self.client.hgetall(key)
            rows.append({"user_id": cost_user_of(key.decode()),
                         "cost_usd": float(data.get(b"spent", 0)),
                         "requests": int(data.get(b"requests", 0))})
        return rows

    def _hold(self, keys: tuple[str, str], estimate: float) -> None:
        with self._lock:
            for key in keys:
                self._open[key] += estimate
                if self._open[key] <= 1e-12:
                    del self._open[key]

    def _held(self, keys: tuple[str, str]) -> Totals:
        with self._lock:
            return self._open.get(keys[0], 0.0), self._open.get(keys[1], 0.0)

    def _restarts(self) -> int:
        """Server restarts seen so far by the client's connections (``RunIdWatch``)."""
        watch = watch_of(self.client)
        return watch.changes if watch is not None else 0

    def _mark(self, key: str) -> str:
        """Who seeds a day key: the slot's master in a cluster, a single server's ``run_id``
        (restarted from a file that lacks the last writes, it is seeded again), else ``1``."""
        watch = watch_of(self.client)
        if watch is not None and watch.run_id is None:  # the first connection reads it
            self.client.ping()
        return slot_owner(self.client, key) or (watch.run_id if watch else None) or "1"
