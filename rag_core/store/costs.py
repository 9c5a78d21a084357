"""The cost ledger's durable side: spend per user and day, and the reservations in flight.

A part of its own beside the note store (``PgVectorStore.costs``, ``MemoryStore.costs``): it
borrows the store's pooled connections but shares nothing else with notes and search. Redis
holds the running totals (``rag_core.costs.ledger``); what is here survives Redis and every
process: a Redis that lost its memory is seeded from ``day_totals`` and ``open_reservations``.
The SQL is in ``rag_core.store.sql.ledger``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from rag_core.store.sql import ledger as q

if TYPE_CHECKING:
    from rag_core.store.records import Connect



@dataclass(frozen=True)
class DayState:
    """A day's spend and open reservations: (the user's, everyone's) each."""

    spent: tuple[float, float]
    held: tuple[float, float]


class CostRow(TypedDict):
    """A user's recorded spend of a day."""

    day: date | str  # a date from PostgreSQL, its ISO text in process
    user_id: str
    cost_usd: float
    input_tokens: int
    output_tokens: int
    requests: int


class CostStore(Protocol):
    """Durable cost rows and open reservations."""

    def add_cost(self, day: date | str, user_id: str, cost_usd: float, input_tokens: int,
                 output_tokens: int, requests: int = 1,
                 reservation_id: str | None = None) -> CostRow:
        """Add to the user's row of that day; the reservation ``reservation_id`` (if any) is
        closed in the same transaction."""

    def costs_for_day(self, day: date | str) -> list[CostRow]: ...

    def day_totals(self, day: date | str, user_id: str) -> tuple[float, float]:
        """The user's and everyone's recorded spend of that day (dollars)."""

    def reserve(self, reservation_id: str, day: str, user_id: str, estimate: float) -> None:
        """A generation's worst-case cost, open until ``add_cost`` or ``release`` closes it."""

    def release(self, reservation_id: str) -> None: ...

    def day_state(self, day: str, user_id: str, max_age_s: float) -> DayState:
        """The day's spend and open reservations younger than ``max_age_s`` (older ones
        belong to generations that died), in one snapshot."""

    def add_requests(self, counts: Sequence[tuple[str, str, str, int]]) -> None:
        """Add (day, user, outcome, requests) rows: every request, paid or not."""

    def requests_for_day(self, day: date | str) -> dict[str, dict[str, int]]:
        """User -> outcome -> requests of that day."""


def _cost_row(row: Sequence[Any]) -> CostRow:
    return {"day": row[0], "user_id": row[1], "cost_usd": float(row[2]),
            "input_tokens": int(row[3]), "output_tokens": int(row[4]), "requests": int(row[5])}


class PgCosts:
    def __init__(self, db: Connect) -> None:
        self._db = db

    def add_cost(self, day: date | str, user_id: str, cost_usd: float, input_tokens: int,
                 output_tokens: int, requests: int = 1,
                 reservation_id: str | None = None) -> CostRow:
        with self._db("cost update") as conn:
            row = conn.execute(
                q.ADD_COST, (day, user_id, cost_usd, input_tokens, output_tokens, requests)
            ).fetchone()
            if reservation_id is not None:
                conn.execute(q.DROP_RESERVATION, (reservation_id,))
        assert row is not None
        return _cost_row(row)

    def day_totals(self, day: date | str, user_id: str) -> tuple[float, float]:
        with self._db("cost totals") as conn:
            row = conn.execute(q.DAY_TOTALS, {"day": day, "user_id": user_id}).fetchone()
        return (float(row[0]), float(row[1])) if row else (0.0, 0.0)

    def costs_for_day(self, day: date | str) -> list[CostRow]:
        with self._db("cost listing") as conn:
            return [_cost_row(r) for r in conn.execute(q.COSTS_FOR_DAY, (day,))]

    def reserve(self, reservation_id: str, day: str, user_id: str, estimate: float) -> None:
        with self._db("cost reservation") as conn:
            conn.execute(q.ADD_RESERVATION, (reservation_id, day, user_id, estimate))

    def release(self, reservation_id: str) -> None:
        with self._db("cost reservation") as conn:
            conn.execute(q.DROP_RESERVATION, (reservation_id,))

    def day_state(self, day: str, user_id: str, max_age_s: float) -> DayState:
        with self._db("cost state") as conn:
            conn.execute(q.PRUNE_RESERVATIONS, (max_age_s * 2,))
            row = conn.execute(q.DAY_STATE, {"day": day, "user_id": user_id,
                                             "max_age_s": max_age_s}).fetchone()
        assert row is not None
        return DayState((float(row[0]), float(row[1])), (float(row[2]), float(row[3])))

    def add_requests(self, counts: Sequence[tuple[str, str, str, int]]) -> None:
        if not counts:
            return
        columns = [list(c) for c in zip(*counts, strict=True)]
        with self._db("request counts") as conn:
            conn.execute(q.ADD_REQUESTS, columns)

    def requests_for_day(self, day: date | str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self._db("request counts") as conn:
            for user_id, outcome, requests in conn.execute(q.REQUESTS_FOR_DAY, (day,)):
                out.setdefault(user_id, {})[outcome] = int(requests)
        return out


class MemoryCosts:
    """The same in process (a store without PostgreSQL, unit tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._costs: dict[tuple[str, str], CostRow] = {}
        self._open: dict[str, tuple[str, str, float, float]] = {}
        self._requests: dict[tuple[str, str, str], int] = {}

    def add_cost(self, day: date | str, user_id: str, cost_usd: float, input_tokens: int,
                 output_tokens: int, requests: int = 1,
                 reservation_id: str | None = None) -> CostRow:
        with self._lock:
            row = self._costs.setdefault((str(day), user_id), {
                "day": str(day), "user_id": user_id, "cost_usd": 0.0, "input_tokens": 0,
                "output_tokens": 0, "requests": 0})
            row["cost_usd"] += cost_usd
            row["input_tokens"] += input_tokens
            row["output_tokens"] += output_tokens
            row["requests"] += requests
            if reservation_id is not None:
                self._open.pop(reservation_id, None)
            return row.copy()

    def day_totals(self, day: date | str, user_id: str) -> tuple[float, float]:
        with self._lock:
            rows = [r for (d, _), r in self._costs.items() if d == str(day)]
        mine = sum(r["cost_usd"] for r in rows if r["user_id"] == user_id)
        return mine, sum(r["cost_usd"] for r in rows)

    def costs_for_day(self, day: date | str) -> list[CostRow]:
        with self._lock:
            rows = [r.copy() for (d, _), r in self._costs.items() if d == str(day)]
        return sorted(rows, key=lambda r: -r["cost_usd"])

    def reserve(self, reservation_id: str, day: str, user_id: str, estimate: float) -> None:
        with self._lock:
            self._open[reservation_id] = (day, user_id, estimate, self._clock())

    def release(self, reservation_id: str) -> None:
        with self._lock:
            self._open.pop(reservation_id, None)

    def day_state(self, day: str, user_id: str, max_age_s: float) -> DayState:
        now = self._clock()
        with self._lock:
            rows = [r for r in self._open.values() if r[0] == day and now - r[3] < max_age_s]
        held = sum(r[2] for r in rows if r[1] == user_id), sum(r[2] for r in rows)
        return DayState(self.day_totals(day, user_id), held)

    def add_requests(self, counts: Sequence[tuple[str, str, str, int]]) -> None:
        with self._lock:
            for day, user_id, outcome, n in counts:
                key = (str(day), user_id, outcome)
                self._requests[key] = self._requests.get(key, 0) + n

    def requests_for_day(self, day: date | str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for (d, user_id, outcome), n in sorted(self._requests.items()):
                if d == str(day):
                    out.setdefault(user_id, {})[outcome] = n
        return out
