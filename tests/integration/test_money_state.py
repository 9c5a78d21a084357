"""Money state that survives what an attacker's probe did to it (security issue, findings 3 and
4): a Redis that restarts empty, a Redis that restarts from a file without its last writes, a
Redis that is unreachable for a while, a database that fails between the answer and its cost
row. Real Redis and PostgreSQL; the outage is a real cut of the connection (tests/servers.py
``CutProxy``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from servers import CutProxy, OwnPostgres, RedisProcess, wait_aof_written

from rag_core.config import fixed
from rag_core.costs import reporting
from rag_core.costs.ledger import CostLedger, ledger_for, today
from rag_core.costs.queue import RETRY_EVERY_S, CostQueue
from rag_core.errors import BudgetExceeded, BudgetUnavailable
from rag_core.parts import build_store
from rag_core.redis_kv.client import connect
from rag_core.redis_kv.keys import cost_keys
from rag_core.store.base import Store
from rag_core.types import TokenUsage

USAGE = TokenUsage(100, 10)


@pytest.fixture
def store(live_settings) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    st = build_store(live_settings)
    yield st
    st.close()


def ledger_on(settings, url: str, store: Store | None, tmp: Path, **changes: object
              ) -> CostLedger:  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return ledger_for(client, settings.with_overrides(**changes), costs=store.costs,
                      queue=CostQueue(tmp / "queue"))


def pay(ledger: CostLedger, user: str, dollars: float) -> None:
    ledger.commit(ledger.reserve(user, dollars), dollars, USAGE)


def test_a_restarted_empty_redis_does_not_lift_the_cap(
        redis_factory, store: Store, live_settings, tmp_path: Path) -> None:
    server = redis_factory()
    ledger = ledger_on(live_settings, server.url, store, tmp_path, user_daily_budget_usd=1.0)
    pay(ledger, "amara", 0.6)
    held = ledger.reserve("amara", 0.2)  # in flight when Redis dies
    server.stop()
    server.start()  # same port, nothing kept
    assert reporting.spend(ledger, "amara") == 0.0  # Redis forgot...
    with pytest.raises(BudgetExceeded):  # ...but the day is seeded from PostgreSQL first
        ledger.reserve("amara", 0.5)
    assert reporting.spend(ledger, "amara") == pytest.approx(0.6)
    ledger.commit(held, 0.1, USAGE)  # a reservation the new Redis never saw
    assert reporting.reserved(ledger, "amara") == 0.0  # never below zero
    assert reporting.spend(ledger, "amara") == pytest.approx(0.7)
    assert store.costs.day_totals(today(), "amara")[0] == pytest.approx(0.7)


def test_a_redis_restarted_without_its_last_writes_is_seeded_again(
        short_tmp: Path, store: Store, live_settings, tmp_path: Path) -> None:
    """Redis acknowledged a commit that never reached its file (a crash inside the append-only
    file's second): restarted, it reads back a day short of PostgreSQL's record, under the old
    server's ``seeded`` mark. A new ``run_id`` makes the ledger seed the day again."""
    server = RedisProcess(short_tmp / f"lost-{uuid.uuid4().hex[:6]}", persist=True).start()
    user = f"lost-{uuid.uuid4().hex[:8]}"
    key = cost_keys(today(), user)[0]
    try:
        ledger = ledger_for(connect(server.url, timeout_s=5.0),
                            live_settings.with_overrides(user_daily_budget_usd=1.0),
                            costs=store.costs, queue=CostQueue(tmp_path / "queue"))
        admin = redis.Redis.from_url(server.url, socket_timeout=5)
        pay(ledger, user, 0.5)
        wait_aof_written(admin)
        admin.config_set("appendonly", "no")  # what follows never reaches the file
        pay(ledger, user, 0.3)  # acknowledged by Redis, recorded in PostgreSQL
        assert server.proc is not None
        server.proc.kill()
        server.proc.wait(30)
        server.start()  # same port and folder: the day as the file has it
        assert float(admin.hget(key, "spent") or 0) == pytest.approx(0.5)
        with pytest.raises(BudgetExceeded):  # 0.8 + 0.3 is over 1.0; Redis alone said 0.5
            ledger.reserve(user, 0.3)
        assert float(admin.hget(key, "spent") or 0) == pytest.approx(0.8)  # seeded in Redis
        assert admin.hget(key, "seeded").decode() == admin.info("server")["run_id"]
        assert store.costs.day_totals(today(), user)[0] == pytest.approx(0.8)
    finally:
        server.stop()


def test_an_outage_is_conservative_and_merged_back(
        redis_server, store: Store, live_settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixed, "BUDGET_OUTAGE_SHARE", 0.5)
    proxy = CutProxy(redis_server.port, redis_server.password)
    redis.Redis.from_url(redis_server.url).flushall()
    ledger = ledger_on(live_settings, proxy.url, store, tmp_path, user_daily_budget_usd=1.0)
    pay(ledger, "amara", 0.4)
    proxy.cut()
    try:
        # in process, from PostgreSQL's 0.40: half of the 0.60 left may be spent
        pay(ledger, "amara", 0.2)
        with pytest.raises(BudgetExceeded):
            ledger.reserve("amara", 0.2)  # 0.6 + 0.2 would pass 0.4 + 0.3
        assert reporting.spend(ledger, "amara") == pytest.approx(0.6)
    finally:
        proxy.restore()
    ledger.reserve("ben", 0.01)  # the first call that reaches Redis merges the outage spend
    assert float(redis.Redis.from_url(redis_server.url).hget(
        ledger_key("amara"), "spent")) == pytest.approx(0.6)
    assert reporting.spend(ledger, "amara") == pytest.approx(0.6)
    with pytest.raises(BudgetExceeded):
        ledger.reserve("amara", 0.45)
    proxy.cut()


def ledger_key(user: str) -> str:
    from rag_core.redis_kv.keys import cost_keys

    return cost_keys(today(), user)[0]


def test_no_redis_and_no_database_pauses_paid_answers(
        settings, own_postgres: OwnPostgres, redis_server, tmp_path: Path) -> None:
    db = settings.with_overrides(database_url=own_postgres.url, db_connect_timeout_s=1,
                                 db_pool_timeout_s=1.0, redis_url=redis_server.url)
    st = build_store(db)
    proxy = CutProxy(redis_server.port, redis_server.password)
    ledger = ledger_on(db, proxy.url, st, tmp_path)
    try:
        proxy.cut()
        own_postgres.stop()
        with pytest.raises(BudgetUnavailable) as info:
            ledger.reserve("amara", 0.01)
        assert info.value.status == 503 and info.value.retry_after
    finally:
        proxy.restore()
        proxy.cut()
        st.close()


@pytest.mark.both_redis
def test_a_cost_row_the_database_refused_is_queued_and_recorded_later(
        settings, own_postgres: OwnPostgres, redis_client, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixed, "DB_RECONNECT_TIMEOUT_S", 2.0)
    db = settings.with_overrides(database_url=own_postgres.url, db_connect_timeout_s=1,
                                 db_pool_timeout_s=1.0)
    st = build_store(db)
    now = [0.0]
    queue = CostQueue(tmp_path / "queue", clock=lambda: now[0])
    ledger = ledger_for(redis_client, db, costs=st.costs, queue=queue)
    try:
        pay(ledger, "amara", 0.25)
        own_postgres.stop()
        pay(ledger, "amara", 0.5)  # the answer was paid: its row must not be lost
        assert queue.pending() == 1
        assert CostQueue(tmp_path / "queue").pending() == 1  # on disk, for any process
        own_postgres.start()
        now[0] += RETRY_EVERY_S
        pay(ledger, "amara", 0.125)  # a later commit retries the queue
        assert queue.pending() == 0
        assert st.costs.day_totals(today(), "amara")[0] == pytest.approx(0.875)
    finally:
        st.close()
