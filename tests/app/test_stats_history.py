"""``GET /v1/stats`` carries the caller's own day, week and month as spent (``history``, from
PostgreSQL): their figures only, never another user's. Real PostgreSQL and Redis."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace

import httpx
import jwt
import pytest

from rag_core.app import create_app
from rag_core.parts import Parts

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
SECRET = "stats-history-test-secret-1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def auth(user: str) -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode({"sub": user, "iat": now, "exp": now + 600}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


async def test_stats_carry_the_callers_own_history(live_parts: Parts) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    live_parts.store.costs.add_cost(today, "amara", 0.006, 60, 6, requests=2)
    live_parts.store.costs.add_cost(today, "ben", 0.5, 600, 60, requests=1)
    settings = live_parts.settings.with_overrides(jwt_secret=SECRET)
    app = create_app(settings, parts=replace(live_parts, settings=settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        r = await client.get("/v1/stats", headers=auth("amara"))
    assert r.status_code == 200, r.text
    history = r.json()["history"]
    assert set(history) == {"day", "week", "month"}
    for period in history.values():
        assert period["spent_usd"] == pytest.approx(0.006) and period["billed_requests"] == 2
        assert period["end"] == today
