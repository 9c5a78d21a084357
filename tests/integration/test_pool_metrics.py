"""The PostgreSQL pool watched on a real PostgreSQL: ``db_pool_*`` follow psycopg_pool's
``get_stats()`` as the pool is exhausted (every connection lent, a request waiting, then timing
out), and ``HostWatch`` of a store with a pool sets them with the host's figures."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path

import pytest

from rag_core.config import Settings
from rag_core.errors import VectorSearchFailed
from rag_core.procs import wait_until
from rag_core.store.pool import PgPool
from rag_core.telemetry import metrics
from rag_core.telemetry.pool import PoolReading
from rag_core.telemetry.watch import HostWatch

pytestmark = pytest.mark.integration


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_exhausted_pool_shows_in_use_waiting_wait_time_and_the_timeout(
        database_url: str) -> None:
    services = Settings(profile="ci", database_url=database_url, db_pool_max_size=2,
                        db_pool_timeout_s=0.5).services
    pool = PgPool(services)
    reading = PoolReading()
    timeouts, waited = value("db_pool_errors_total", kind="timeout"), value(
        "db_pool_wait_seconds_total")
    failed: list[BaseException] = []

    def third() -> None:
        try:
            with pool.db("a third"):
                pass
        except VectorSearchFailed as exc:
            failed.append(exc)

    try:
        with ExitStack() as held:
            for n in range(2):
                held.enter_context(pool.db(f"held {n}"))
            asker = threading.Thread(target=third)
            asker.start()
            wait_until(lambda: (pool.stats() or {}).get("requests_waiting") == 1, 30,
                       "a request to wait for a connection")
            reading.record(pool.stats())
            assert (value("db_pool_in_use"), value("db_pool_max_size"), value("db_pool_size"),
                    value("db_pool_waiting")) == (2, 2, 2, 1)
            asker.join(30)
        assert failed, "the third request got a connection from a pool of two held ones"
        reading.record(pool.stats())
        assert value("db_pool_in_use") == 0 and value("db_pool_waiting") == 0
        assert value("db_pool_errors_total", kind="timeout") == timeouts + 1
        assert value("db_pool_wait_seconds_total") - waited >= 0.45
        requests = value("db_pool_requests_total")
        reading.record(pool.stats())  # read again: nothing new, nothing added
        assert value("db_pool_requests_total") == requests
        assert value("db_pool_errors_total", kind="timeout") == timeouts + 1
    finally:
        pool.close()


def test_the_watch_of_a_store_with_a_pool_sets_pool_and_host_figures(
        database_url: str, tmp_path: Path) -> None:
    from rag_core.parts import build_store

    settings = Settings(profile="ci", database_url=database_url, state_dir=str(tmp_path))
    store = build_store(settings)
    try:
        store.list_notes("nobody")  # the pool opens on first use
        watch = HostWatch.of(settings, store)
        assert watch.pool_stats is not None and set(watch.folders) == {"state"}
        watch.refresh()
        assert value("db_pool_max_size") == settings.services.db_pool_max_size
        assert value("db_pool_requests_total") >= 1
        assert value("filesystem_avail_bytes", folder="state") > 0
        assert value("process_cpu_cores") > 0
    finally:
        store.close()
