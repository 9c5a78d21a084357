"""The cost ledger on the real Redis and PostgreSQL: atomic budgets under concurrency (on a
single server and on a Redis Cluster, where its Lua scripts run on one hash slot)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.costs.ledger import ledger_for, price, today
from rag_core.errors import BudgetExceeded
from rag_core.redis_kv.client import shared_client
from rag_core.store.pgvector import store_for
from rag_core.types import TokenUsage

pytestmark = [pytest.mark.integration, pytest.mark.both_redis]


def test_price_from_settings() -> None:
    s = Settings()
    assert price(TokenUsage(1000, 400), s.money) == pytest.approx(1000 * 2e-7 + 400 * 6e-7)


def test_concurrent_requests_of_one_user_never_pass_the_cap(live_settings: Settings) -> None:
    settings = live_settings.with_overrides(user_daily_budget_usd=0.05)
    store = store_for(settings)
    store.ensure_schema()
    ledger = ledger_for(shared_client(settings.services.redis_url, settings), settings,
                        costs=store.costs)
    estimate, actual = 0.003, 0.0025  # worst case reserved, real cost a little less

    def one_request(_: int) -> str:
        try:
            reservation = ledger.reserve("amara", estimate)
        except BudgetExceeded:
            return "refused"
        ledger.commit(reservation, actual, TokenUsage(100, 50))
        return reservation.state

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(one_request, range(60)))
    spent = reporting.spend(ledger, "amara")
    assert spent <= 0.05 + estimate  # never more than one request over the cap
    assert outcomes.count("refused") > 0 and "tightened" in outcomes
    served = len(outcomes) - outcomes.count("refused")
    assert spent == pytest.approx(served * actual)
    rows = {r["user_id"]: r for r in store.costs.costs_for_day(today())}
    assert float(rows["amara"]["cost_usd"]) == pytest.approx(spent)  # Redis and PostgreSQL agree
    assert int(rows["amara"]["requests"]) == served
    report = reporting.report(ledger)
    assert report["top"][0]["user_id"] == "amara" and report["projected_month_usd"] > 0
    store.close()


def test_global_cap_and_release(live_settings: Settings) -> None:
    settings = live_settings.with_overrides(global_daily_budget_usd=0.01)
    ledger = ledger_for(shared_client(settings.services.redis_url, settings), settings)
    first = ledger.reserve("amara", 0.006)
    with pytest.raises(BudgetExceeded):
        ledger.reserve("ben", 0.006)  # amara's reservation counts against the global cap
    ledger.release(first)
    ledger.reserve("ben", 0.006)  # released: room again


def test_alert_then_tightened_states(live_settings: Settings) -> None:
    settings = live_settings.with_overrides(user_daily_budget_usd=1.0)
    ledger = ledger_for(shared_client(settings.services.redis_url, settings), settings)
    states = []
    for _ in range(9):
        r = ledger.reserve("chloe", 0.1)
        ledger.commit(r, 0.1, TokenUsage(1, 1))
        states.append(r.state)
    assert states[:7] == ["ok"] * 7 and states[7] == "alert" and states[8] == "tightened"


def test_what_a_hit_saved_is_written_in_the_background_and_read_whole(
        live_settings: Settings) -> None:
    """A hit adds what it saved in process (no Redis write on its path); the flushing thread,
    or a reader of the figure, writes it to the user's day."""
    from rag_core.redis_kv.keys import cost_keys

    settings = live_settings
    client = shared_client(settings.services.redis_url, settings)
    ledger = ledger_for(client, settings)
    key = cost_keys(today(), "saver")[0]
    ledger.add_saved("saver", 0.25)
    ledger.add_saved("saver", 0.5)
    ledger.add_saved("saver", 0.0)  # a free answer saved nothing
    assert ledger.pending_saved.pending() == {key: 0.75}
    assert client.hget(key, "saved") is None  # nothing written on the hit's path
    assert reporting.saved(ledger, "saver") == pytest.approx(0.75)  # a reader flushes first
    assert ledger.pending_saved.pending() == {}
    ledger.add_saved("saver", 0.25)
    ledger.close()  # a closing service writes what is pending
    assert reporting.saved(ledger, "saver") == pytest.approx(1.0)
