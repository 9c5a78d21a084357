"""Cost history from PostgreSQL (``rag-core costs report --period``, ``/v1/stats``'s
``history``): a day, its ISO week and its month as spent, saved and refused, per user and in
all, on a real PostgreSQL with rows on days inside and outside each period."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from rag_core.cli.main import main
from rag_core.config import Settings
from rag_core.costs.history import period_report, span, user_periods
from rag_core.errors import InvalidArgument
from rag_core.store.pgvector import PgVectorStore, store_for
from rag_core.store.sql.erasure import ANONYMOUS_USER

pytestmark = [pytest.mark.integration]
END = "2026-03-18"  # a Wednesday: its week starts on the 16th, its month on the 1st


@pytest.fixture
def store(db_settings: Settings) -> Iterator[PgVectorStore]:
    st = store_for(db_settings)
    st.ensure_schema()
    days = {"today": END, "monday": "2026-03-16", "march": "2026-03-02", "before": "2026-02-27"}
    for day in days.values():  # amara: $0.01 a day, 2 calls, 3 cached answers, 1 refused
        st.costs.add_cost(day, "amara", 0.01, 100, 10, requests=2)
        st.costs.add_requests([(day, "amara", "generated", 2), (day, "amara", "cached", 3),
                               (day, "amara", "refused", 1)])
    st.costs.add_cost(END, "ben", 0.05, 500, 50, requests=1)
    st.costs.add_requests([(END, "ben", "generated", 1),
                           (END, "ben", "rejected:BUDGET_EXCEEDED", 4)])
    st.costs.add_cost(days["monday"], ANONYMOUS_USER, 0.02, 10, 1, requests=1)
    yield st
    st.close()


def test_a_day_a_week_and_a_month_as_spent(store: PgVectorStore) -> None:
    day = period_report(store.pool.db, "day", END)
    assert (day.start, day.end) == (END, END)
    assert [r.user_id for r in day.top] == ["ben", "amara"]
    amara = day.top[1]
    assert amara.spent_usd == pytest.approx(0.01) and amara.billed_requests == 2
    assert amara.saved_usd == pytest.approx(3 * 0.005)  # 3 cached x $0.005 a billed call
    assert amara.refused_requests == 1 and day.top[0].refused_requests == 4
    assert day.total.rejected == {"BUDGET_EXCEEDED": 4}
    week = period_report(store.pool.db, "week", END)
    assert week.start == "2026-03-16"
    assert week.total.spent_usd == pytest.approx(0.02 + 0.05 + 0.02)  # erased spend counts
    assert ANONYMOUS_USER not in [r.user_id for r in week.top]  # but is nobody's row
    month = period_report(store.pool.db, "month", END, top=1)
    assert month.start == "2026-03-01" and [r.user_id for r in month.top] == ["ben"]
    assert month.total.spent_usd == pytest.approx(0.03 + 0.05 + 0.02)
    assert month.total.refused_requests == 3 + 4


def test_the_callers_history_and_the_command(
        store: PgVectorStore, database_url: str, settings: Settings,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    store.costs.add_cost(today, "chioma", 0.004, 40, 4, requests=1)
    mine = user_periods(store.pool.db, "chioma")
    assert set(mine) == {"day", "week", "month"}
    assert mine["day"]["spent_usd"] == pytest.approx(0.004) and mine["day"]["end"] == today
    assert user_periods(store.pool.db, "nobody")["month"]["spent_usd"] == 0.0
    with pytest.raises(InvalidArgument):
        span("year")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_PROFILE", "ci")
    monkeypatch.setenv("RAG_STATE_DIR", str(settings.services.state_dir))
    assert main(["costs", "report", "--period", "week", "--day", END, "--top", "1"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert out["period"] == "week" and [r["user_id"] for r in out["top"]] == ["ben"]
    with pytest.raises(SystemExit) as refused:
        main(["costs", "report", "--period", "fortnight"])
    assert refused.value.code == 2
