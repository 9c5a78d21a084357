"""The ledger while Redis is unreachable: each process counts in process, from PostgreSQL's
figure, and may spend only ``fixed.BUDGET_OUTAGE_SHARE`` of what is left (several processes may be
doing the same). What it spent, and what it could not settle in Redis, is merged back when
Redis returns. Without a Redis configured at all the share is the whole budget: one process
counts everything.
"""

from __future__ import annotations

import threading
from collections import defaultdict


class OutageBook:
    def __init__(self, share: float) -> None:
        self.share = share
        self._lock = threading.Lock()
        self._base: dict[str, float] = {}  # PostgreSQL's figure when the outage began, per key
        self._local: dict[str, dict[str, float]] = defaultdict(lambda: {"spent": 0.0,
                                                                        "reserved": 0.0})
        self._unmerged: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])

    @property
    def active(self) -> bool:
        """Something counted here waits to go back to Redis."""
        return bool(self._unmerged or self._base)

    def missing(self, keys: tuple[str, str]) -> bool:
        with self._lock:
            return any(k not in self._base for k in keys)

    def start(self, keys: tuple[str, str], recorded: tuple[float, float]) -> None:
        with self._lock:
            for key, value in zip(keys, recorded, strict=True):
                self._base.setdefault(key, value)

    def reserve(self, keys: tuple[str, str], estimate: float,
                caps: tuple[float, float]) -> tuple[bool, str, list[float]]:
        with self._lock:
            totals = []
            for scope, key, cap in zip(("user", "global"), keys, caps, strict=True):
                base, row = self._base[key], self._local[key]
                total = base + row["spent"] + row["reserved"] + estimate
                allowed = base + max(0.0, cap - base) * self.share
                totals.append(total)
                if total > allowed or base + row["spent"] >= cap:
                    return False, scope, [total - estimate]
            for key in keys:
                self._local[key]["reserved"] += estimate
            return True, "", totals

    def settle(self, keys: tuple[str, str], actual: float, estimate: float, *,
               local: bool, merge: bool) -> None:
        """A generation settled here: ``local`` when it was reserved here too, else it holds
        ``estimate`` in Redis, to drop there on the merge; ``merge`` when a Redis exists."""
        with self._lock:
            for key in keys:
                row = self._local[key]
                row["spent"] += actual
                if local:
                    row["reserved"] = max(0.0, row["reserved"] - estimate)
            if merge:
                pending = self._unmerged[keys]
                pending[0] += actual
                if not local:
                    pending[1] += estimate

    def take_unmerged(self) -> dict[tuple[str, str], list[float]]:
        """What waits for Redis, handed over once (the outage counts start again)."""
        with self._lock:
            pending, self._unmerged = dict(self._unmerged), defaultdict(lambda: [0.0, 0.0])
            self._base.clear()
            self._local.clear()
        return pending

    def keep_unmerged(self, keys: tuple[str, str], spent: float, reserved: float) -> None:
        with self._lock:
            row = self._unmerged[keys]
            row[0] += spent
            row[1] += reserved

    def read(self, key: str, field: str) -> float:
        with self._lock:
            base = self._base.get(key, 0.0) if field == "spent" else 0.0
            return base + self._local.get(key, {}).get(field, 0.0)

    def add(self, key: str, field: str, amount: float) -> None:
        with self._lock:
            bucket = self._local[key]
            bucket[field] = bucket.get(field, 0.0) + amount
