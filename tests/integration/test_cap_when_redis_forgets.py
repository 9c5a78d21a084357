"""Spend stays at or under the daily cap when Redis loses its memory while generations are in
flight: their reservations vanish with it, and the day's re-seed from PostgreSQL (committed
spend only) would admit the cap again on top of them. Real Redis (restarted empty, twice, as
the probe did) and real PostgreSQL."""

from __future__ import annotations

import threading
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
EACH = 0.001  # a stream's worst case, reserved before it starts
USAGE = TokenUsage(100, 10)


@pytest.fixture
def store(live_settings) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    st = build_store(live_settings)
    yield st
    st.close()


def admit_all(ledger: CostLedger, streams: int) -> list[Reservation]:
    """``streams`` concurrent clients, each reserving until the cap refuses it."""
    admitted: list[Reservation] = []
    lock = threading.Lock()

    def client() -> None:
        while True:
            try:
                held = ledger.reserve("amara", EACH)
            except BudgetExceeded:
                return
            with lock:
                admitted.append(held)
            if len(admitted) > 200:  # a cap that no longer holds: stop, the test fails below
                return

    threads = [threading.Thread(target=client) for _ in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return admitted


def test_reservations_in_flight_still_count_after_redis_restarts_empty(
        redis_factory, store: Store, live_settings, tmp_path: Path) -> None:
    server = redis_factory()
    client = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
    ledger = ledger_for(client, live_settings.with_overrides(user_daily_budget_usd=CAP),
                        costs=store.costs, queue=CostQueue(tmp_path / "queue"))
    in_flight: list[Reservation] = []
    for _ in range(2):  # Redis loses everything twice while streams are still generating
        in_flight += admit_all(ledger, streams=20)
        done, in_flight = in_flight[: len(in_flight) // 3], in_flight[len(in_flight) // 3:]
        for held in done:  # some streams finish before the restart
            ledger.commit(held, EACH, USAGE)
        server.stop()
        server.start()  # same port, empty
    in_flight += admit_all(ledger, streams=20)
    for held in in_flight:  # every stream finishes and pays its worst case
        ledger.commit(held, EACH, USAGE)
    spent = store.costs.day_totals(today(), "amara")[0]
    assert spent <= CAP + 1e-9, f"spent {spent:.4f} with a cap of {CAP}"
    assert spent >= CAP - 2 * EACH  # and the cap was used, not refused from the start
