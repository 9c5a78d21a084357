"""Reads that may lag, on a streaming replica of the notes database, with a bound on staleness.

``ReplicaReads`` owns the replica's connection pool and decides, per read, which server answers:

- **Which reads.** ``PgVectorStore`` sends searches and statistics here (``run``); writes and
  the reads that must see the caller's own writes (the notes version, a note's hash before an
  upsert, the note listing, the cost ledger's seed) never come here: they use the primary.
- **The staleness bound.** The replica answers while it is at most ``replica_max_lag_s`` behind.
  Lag is measured by position in the write-ahead log, not by the time of the last replayed
  commit (which grows on an idle primary although nothing is missing): every check reads the
  primary's ``pg_current_wal_lsn()`` and the replica's ``pg_last_wal_replay_lsn()``; the lag is
  the age of the oldest primary position that the replica has not replayed yet (0 when it has
  replayed all of them). Checks run at most every ``fixed.REPLICA_CHECK_INTERVAL_S`` (one thread
  checks, the others use the last verdict), so the bound holds to within one interval.
- **Read-your-writes for search.** A search that knows the user's notes version (the pipeline
  reads it from the primary or Redis) first reads the version on the replica, in the same
  connection; an older one means this user's last write has not arrived, and the search goes to
  the primary. A cached answer is keyed by that version, so it never holds a stale search.
- **Failure.** A replica that is unreachable, not in recovery mode as expected, or fails a read
  sends reads to the primary (no error reaches the user), is marked ``down`` and tried again
  after ``fixed.REPLICA_RETRY_S`` with a fresh pool. Each change of state is logged once; the
  metrics count reads by the server that answered them (and why) and show the measured lag.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import psycopg
from pgvector.psycopg import register_vector

from rag_core.config import Services, fixed
from rag_core.errors import VectorSearchFailed
from rag_core.store.pool import Conn
from rag_core.telemetry import metrics

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

log = logging.getLogger("rag_core.store.replica")

T = TypeVar("T")
State = Literal["ok", "lagging", "down"]


PRIMARY_LSN = "SELECT pg_current_wal_lsn()::text"
REPLICA_LSN = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text"
USER_VERSION = "SELECT version FROM notes_versions WHERE user_id = %s"
_DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)
_MAX_PENDING = 4_096  # primary positions remembered while the replica is behind


def lsn_value(text: str | None) -> int:
    """``'16/B374D848'`` as one integer (positions compare as numbers)."""
    if not text:
        return 0
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True)
class ReplicaHealth:
    state: State
    lag_s: float | None  # None: unknown (down)
    checked_at: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "lag_s": None if self.lag_s is None else round(self.lag_s, 3),
                "reads_to": "replica" if self.state == "ok" else "primary",
                "detail": self.detail}


PrimaryDb = Callable[[str], AbstractContextManager[Conn]]


class ReplicaReads:
    """The replica pool and the routing decision of one store (thread-safe). Without
    ``database_replica_url`` every read simply runs on the primary."""

    def __init__(self, settings: Services, primary: PrimaryDb,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._url = settings.database_replica_url or ""
        self._primary = primary
        self.clock = clock
        self._lock = threading.Lock()  # the pool and the verdict
        self._checking = threading.Lock()  # one check at a time; others use the last verdict
        self._pool_obj: ConnectionPool[Conn] | None = None
        self._pending: deque[tuple[float, int]] = deque(maxlen=_MAX_PENDING)
        self._health: ReplicaHealth | None = None

    # --- the pool -------------------------------------------------------------------------

    def _pool(self) -> ConnectionPool[Conn]:
        from psycopg_pool import ConnectionPool

        with self._lock:
            if self._pool_obj is None:
                s = self.settings
                kwargs: dict[str, Any] = {"connect_timeout": s.db_connect_timeout_s,
                                          "application_name": "rag_core_replica_reads"}
                if fixed.DB_STATEMENT_TIMEOUT_MS:
                    kwargs["options"] = f"-c statement_timeout={fixed.DB_STATEMENT_TIMEOUT_MS}"
                pool: ConnectionPool[Conn] = ConnectionPool(
                    self._url, min_size=1, max_size=s.db_pool_max_size,
                    timeout=self._checkout_s, reconnect_timeout=fixed.DB_RECONNECT_TIMEOUT_S,
                    kwargs=kwargs, configure=_configure, check=ConnectionPool.check_connection,
                    name="rag_core_replica", open=False)
                pool.open(wait=False)
                self._pool_obj = pool
            return self._pool_obj

    @property
    def _checkout_s(self) -> float:
        return min(1.0, self.settings.db_pool_timeout_s)

    def _drop_pool(self) -> None:
        with self._lock:
            pool, self._pool_obj = self._pool_obj, None
        if pool is not None:
            pool.close(timeout=1.0)

    # --- the verdict ----------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return bool(self._url)

    def status(self) -> dict[str, Any] | None:
        """For readiness: the verdict (checked when due), or None without a replica."""
        return self.health().to_dict() if self._url else None

    def health(self, *, force: bool = False) -> ReplicaHealth:
        """The last verdict, refreshed first when it is due (or ``force``)."""
        current = self._health
        if force or current is None or self._due(current):
            if force:
                self._checking.acquire()
            elif not self._checking.acquire(blocking=False):
                return current or ReplicaHealth("down", None, self.clock(), "first check")
            try:
                current = self._health
                if force or current is None or self._due(current):
                    self._set(self._check())
            finally:
                self._checking.release()
        assert self._health is not None
        return self._health

    def _due(self, health: ReplicaHealth) -> bool:
        wait = fixed.REPLICA_RETRY_S if health.state == "down" else fixed.REPLICA_CHECK_INTERVAL_S
        return self.clock() - health.checked_at >= wait

    def _check(self) -> ReplicaHealth:
        now = self.clock()
        try:
            with self._primary("replica lag check") as conn:
                row = conn.execute(PRIMARY_LSN).fetchone()
            primary_lsn = lsn_value(row[0] if row else None)
            if not self._pending or primary_lsn > self._pending[-1][1]:
                self._pending.append((now, primary_lsn))
        except VectorSearchFailed:
            pass  # the primary is down: judge by the positions seen so far
        try:
            with self._pool().connection(timeout=self._checkout_s) as conn:
                recovering, replayed = conn.execute(REPLICA_LSN).fetchone() or (False, None)
        except _DB_ERRORS as exc:
            self._drop_pool()
            return ReplicaHealth("down", None, now, f"unreachable ({exc.__class__.__name__})")
        if not recovering:
            self._drop_pool()
            return ReplicaHealth("down", None, now, "not a standby (pg_is_in_recovery false)")
        position = lsn_value(replayed)
        while self._pending and self._pending[0][1] <= position:
            self._pending.popleft()
        lag = now - self._pending[0][0] if self._pending else 0.0
        if lag > self.settings.replica_max_lag_s:
            return ReplicaHealth("lagging", lag, now,
                                 f"{lag:.1f} s behind (bound {self.settings.replica_max_lag_s} s)")
        return ReplicaHealth("ok", lag, now)

    def _set(self, health: ReplicaHealth) -> None:
        before = self._health
        self._health = health
        metrics.REPLICA_LAG.set(-1.0 if health.lag_s is None else health.lag_s)
        if before is None or before.state != health.state:
            level = logging.INFO if health.state == "ok" else logging.WARNING
            log.log(level, "read replica %s: reads go to the %s%s", health.state,
                    "replica" if health.state == "ok" else "primary",
                    f" ({health.detail})" if health.detail else "")

    def _mark_down(self, action: str, exc: BaseException) -> None:
        self._drop_pool()
        self._set(ReplicaHealth("down", None, self.clock(),
                                f"{action} failed ({exc.__class__.__name__})"))

    # --- reads ----------------------------------------------------------------------------

    def run(self, action: str, read: Callable[[Conn], T], *, user_id: str | None = None,
            min_version: int | None = None) -> T:
        """``read`` on the replica when it is usable (and has this user's version
        ``min_version`` when given), else on the primary; never an error for the replica's
        sake."""
        if not self._url:
            with self._primary(action) as conn:
                return read(conn)
        health = self.health()
        if health.state != "ok":
            return self._on_primary(action, read, health.state)
        try:
            with self._pool().connection(timeout=self._checkout_s) as conn:
                if min_version and user_id is not None:
                    row = conn.execute(USER_VERSION, (user_id,)).fetchone()
                    if (0 if row is None else int(row[0])) < min_version:
                        conn.rollback()
                        behind = True
                    else:
                        behind = False
                        result = read(conn)
                else:
                    behind = False
                    result = read(conn)
        except _DB_ERRORS as exc:
            self._mark_down(action, exc)
            return self._on_primary(action, read, "down")
        if behind:
            return self._on_primary(action, read, "behind")
        metrics.DB_READS.labels(target="replica", reason="ok").inc()
        return result

    def _on_primary(self, action: str, read: Callable[[Conn], T], reason: str) -> T:
        with self._primary(action) as conn:
            result = read(conn)
        metrics.DB_READS.labels(target="primary", reason=reason).inc()
        return result

    def close(self) -> None:
        self._drop_pool()


def _configure(conn: Conn) -> None:
    register_vector(conn)
    conn.commit()

