"""The primary's connection pool of ``PgVectorStore``, which its parts borrow (``db``).

One ``psycopg_pool.ConnectionPool``, opened lazily on first use (after ``ensure_schema`` has
created the ``vector`` extension that ``register_vector`` needs).  Every connection is checked
when it leaves the pool, so the connections that a PostgreSQL restart killed are replaced and
the same pool keeps working once the server is back.  Any connection-level failure surfaces as
``VectorSearchFailed`` (503) with a plain message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from rag_core.config import Services, fixed
from rag_core.errors import VectorSearchFailed
from rag_core.store import sql as q

log = logging.getLogger("rag_core.store")

_DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


# a connection of the pool: rows come back as tuples (psycopg's default row factory)
Conn = psycopg.Connection[TupleRow]


def _configure(conn: Conn) -> None:
    register_vector(conn)
    conn.commit()  # the type lookups opened a transaction; the pool wants the connection idle


class PgPool:
    """Pooled connections to the primary, each handed out inside one transaction."""

    def __init__(self, services: Services) -> None:
        if not services.database_url:
            raise ValueError("PgVectorStore needs settings.database_url (see services.resolve)")
        self.services = services  # the pool's size and timeouts
        self.url = services.database_url
        self._pool_obj: ConnectionPool[Conn] | None = None
        self._lock = threading.Lock()

    def connect_kwargs(self) -> dict[str, str | float]:
        kwargs: dict[str, str | float] = {"connect_timeout": self.services.db_connect_timeout_s}
        if fixed.DB_STATEMENT_TIMEOUT_MS:
            kwargs["options"] = f"-c statement_timeout={fixed.DB_STATEMENT_TIMEOUT_MS}"
        return kwargs

    def _pool(self) -> ConnectionPool[Conn]:
        with self._lock:
            if self._pool_obj is None:
                pool: ConnectionPool[Conn] = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self.services.db_pool_max_size,
                    timeout=self.services.db_pool_timeout_s,
                    reconnect_timeout=fixed.DB_RECONNECT_TIMEOUT_S,
                    kwargs=self.connect_kwargs(),
                    configure=_configure,
                    check=ConnectionPool.check_connection,
                    reconnect_failed=lambda _pool: log.warning(
                        "PostgreSQL unreachable; the pool retries on the next request"
                    ),
                    name="rag_core",
                    open=False,
                )
                pool.open(wait=False)
                self._pool_obj = pool
            return self._pool_obj

    @contextmanager
    def db(self, action: str) -> Iterator[Conn]:
        """A pooled connection inside one transaction; connection failures become 503s."""
        try:
            with self._pool().connection() as conn:
                yield conn
        except _DB_ERRORS as exc:
            log.warning("database failure during %s: %s", action, exc.__class__.__name__)
            raise VectorSearchFailed(
                f"The notes database is not reachable right now ({action} failed); "
                "please try again shortly."
            ) from exc

    def stats(self) -> dict[str, int] | None:
        """psycopg_pool's ``get_stats()`` of the pool (None before it is first used)."""
        with self._lock:
            pool = self._pool_obj
        return None if pool is None else pool.get_stats()

    def ping(self) -> bool:
        """True when PostgreSQL answers within a short time; never raises."""
        try:
            timeout = min(1.0, self.services.db_pool_timeout_s)
            with self._pool().connection(timeout=timeout) as conn:
                conn.execute(q.PING)
            return True
        except Exception:  # readiness probes want a yes or no, not an error
            return False

    def close(self) -> None:
        with self._lock:
            if self._pool_obj is not None:
                self._pool_obj.close()
                self._pool_obj = None
