"""The PostgreSQL pool watched: psycopg_pool's ``get_stats()`` as Prometheus series.

Gauges (summed over a server's workers, each with a pool of its own): ``db_pool_size``
(connections open), ``db_pool_max_size`` (the most it may open, ``RAG_DB_POOL_MAX_SIZE``),
``db_pool_in_use`` (lent out now), ``db_pool_waiting`` (requests waiting for one). Counters:
``db_pool_requests_total`` (connections asked for), ``db_pool_wait_seconds_total`` (the time
requests spent waiting for one), ``db_pool_errors_total{kind}`` (``timeout``: a request that got
none within ``RAG_DB_POOL_TIMEOUT_S``; ``connect``: a connection that could not be opened;
``lost``: one found broken when checked). The pool counts since it opened; the counters here
add what it counted since the last reading, so they survive a pool reopened (a smaller count
than the last one is a new pool's).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from rag_core.telemetry import metrics

# psycopg_pool's counters, and the series each feeds (by how much per unit)
COUNTED = {"requests_num": (metrics.POOL_REQUESTS, 1.0),
           "requests_wait_ms": (metrics.POOL_WAIT, 0.001),
           "requests_errors": (metrics.POOL_ERRORS.labels(kind="timeout"), 1.0),
           "connections_errors": (metrics.POOL_ERRORS.labels(kind="connect"), 1.0),
           "connections_lost": (metrics.POOL_ERRORS.labels(kind="lost"), 1.0)}


class PoolReading:
    """Turns successive ``get_stats()`` of one pool into the series above."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, stats: Mapping[str, int] | None) -> None:
        """One reading (None: the pool is not open, so it holds and lends nothing)."""
        stats = stats or {}
        size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
        metrics.POOL_SIZE.set(size)
        metrics.POOL_MAX.set(stats.get("pool_max", 0))
        metrics.POOL_IN_USE.set(max(0, size - available))
        metrics.POOL_WAITING.set(stats.get("requests_waiting", 0))
        with self._lock:
            for key, (series, unit) in COUNTED.items():
                now, before = stats.get(key, 0), self._last.get(key, 0)
                added = now - before if now >= before else now  # a smaller count: a new pool
                if added > 0:
                    series.inc(added * unit)
                self._last[key] = now


__all__ = ["PoolReading"]
