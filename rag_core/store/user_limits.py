"""A user's own request limits: PostgreSQL (``PgUserLimits``, borrowing the store's pooled
connections) or in process (a store without PostgreSQL). Limits are per identity: a user with
no notes may have them. Each window is an ``int`` (0: off) or None (the tier's or the
default's applies); the SQL is in ``rag_core.store.sql.limits``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from rag_core.store import sql as q
from rag_core.store.records import Connect

# per minute, hour and day; None where the user has no limit of their own
OwnRow = tuple[int | None, int | None, int | None]


class UserLimitsTable(Protocol):
    def get(self, user_id: str) -> OwnRow | None: ...

    def set(self, user_id: str, row: OwnRow) -> OwnRow:
        """Set the windows ``row`` gives (a None keeps the user's earlier value)."""

    def clear(self, user_id: str) -> bool:
        """The user's own limits removed; whether there were any."""


def _row(values: Sequence[int | None]) -> OwnRow:
    return (values[0], values[1], values[2])


class PgUserLimits:
    def __init__(self, db: Connect) -> None:
        self._db = db

    def get(self, user_id: str) -> OwnRow | None:
        with self._db("user limits lookup") as conn:
            found = conn.execute(q.GET_USER_LIMITS, (user_id,)).fetchone()
        return _row(found) if found else None

    def set(self, user_id: str, row: OwnRow) -> OwnRow:
        with self._db("user limits change") as conn:
            found = conn.execute(q.SET_USER_LIMITS, {
                "user_id": user_id, "per_minute": row[0], "per_hour": row[1],
                "per_day": row[2]}).fetchone()
        assert found is not None
        return _row(found)

    def clear(self, user_id: str) -> bool:
        with self._db("user limits change") as conn:
            return bool(conn.execute(q.CLEAR_USER_LIMITS, (user_id,)).rowcount)


class MemoryUserLimits:
    def __init__(self) -> None:
        self._rows: dict[str, OwnRow] = {}
        self._lock = threading.Lock()

    def get(self, user_id: str) -> OwnRow | None:
        with self._lock:
            return self._rows.get(user_id)

    def set(self, user_id: str, row: OwnRow) -> OwnRow:
        with self._lock:
            old = self._rows.get(user_id, (None, None, None))
            kept = _row([new if new is not None else was
                         for new, was in zip(row, old, strict=True)])
            self._rows[user_id] = kept
            return kept

    def clear(self, user_id: str) -> bool:
        with self._lock:
            return self._rows.pop(user_id, None) is not None


def user_limits_for(store: object) -> UserLimitsTable:
    """The own-limits table of ``store``: in its PostgreSQL when it has one (its pool), else a
    new one in process (the process's one is ``Parts.limiters.user_limits``, shared by every
    reader of the parts)."""
    pool = getattr(store, "pool", None)
    return PgUserLimits(pool.db) if pool is not None else MemoryUserLimits()
