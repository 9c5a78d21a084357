"""The daily cap holds across processes: two ledgers (two workers or replicas, each with its own
Redis connection) share one Redis and one PostgreSQL. Redis loses its memory while one of them
has generations in flight; the other, seeding the day again, must count them. Real Redis
(restarted empty) and real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from rag_core.costs.ledger import CostLedger, Reservation, ledger_for, today
from rag_core.costs.queue import CostQueue
from rag_core.errors import BudgetExceeded
from rag_core.parts import build_store
from rag_core.store.base import Store
from rag_core.types import TokenUsage

CAP = 0.02
EACH = 0.001
USAGE = TokenUsage(100, 10)


@pytest.fixture
def store(live_settings) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    st = build_store(live_settings)
    yield st
    st.close()


def ledger_of(url: str, store: Store, settings, folder: Path) -> CostLedger:  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return ledger_for(client, settings.with_overrides(user_daily_budget_usd=CAP),
                      costs=store.costs, queue=CostQueue(folder))


def admit_until_refused(ledger: CostLedger, limit: int = 100) -> list[Reservation]:
    admitted = []
    for _ in range(limit):
        try:
            admitted.append(ledger.reserve("amara", EACH))
        except BudgetExceeded:
            break
    return admitted


def test_another_processes_reservations_count_when_redis_restarts_empty(
        redis_factory, store: Store, live_settings, tmp_path: Path) -> None:
    server = redis_factory()
    first = ledger_of(server.url, store, live_settings, tmp_path / "a")
    second = ledger_of(server.url, store, live_settings, tmp_path / "b")
    in_flight = admit_until_refused(first, limit=12)  # 12 streams of the first process
    server.stop()
    server.start()  # same port, empty: the 12 reservations are gone from Redis
    admitted = admit_until_refused(second)
    assert len(admitted) == int(round(CAP / EACH)) - len(in_flight)
    for held in in_flight + admitted:  # every stream pays its worst case
        (first if held in in_flight else second).commit(held, EACH, USAGE)
    spent = store.costs.day_totals(today(), "amara")[0]
    assert spent <= CAP + 1e-9, f"spent {spent:.4f} with a cap of {CAP}"


def test_a_killed_workers_reservations_still_hold_the_cap(
        redis_factory, store: Store, live_settings, tmp_path: Path) -> None:
    server = redis_factory()
    doomed = ledger_of(server.url, store, live_settings, tmp_path / "a")
    held = admit_until_refused(doomed, limit=5)
    del doomed  # killed mid-answer: never commits, never releases
    server.stop()
    server.start()
    survivor = ledger_of(server.url, store, live_settings, tmp_path / "b")
    admitted = admit_until_refused(survivor)
    assert len(admitted) == int(round(CAP / EACH)) - len(held)
    state = store.costs.day_state(today(), "amara", 600)
    assert state.held[0] == pytest.approx(CAP)  # the dead worker's and the survivor's
