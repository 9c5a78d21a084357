"""``GET /v1/rate-limit/status`` in process on the fast lane's parts, counted on a clock the test
sets: each window's limit, used, remaining and reset move as questions are asked, asking the
status counts nothing, another user's questions never show, and the route is in OpenAPI. The
same read against the real Redis is in tests/integration/test_rate_limits_redis.py."""

from __future__ import annotations

from typing import Any

import pytest
from test_rate_limits import QUESTION, Clock, client_of, limited_app, token

from rag_core.parts import Parts

pytestmark = pytest.mark.anyio
STATUS = "/v1/rate-limit/status"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def windows(body: dict[str, Any]) -> dict[str, tuple[int, int, int, int] | None]:
    return {name: None if w is None else (w["limit"], w["used"], w["remaining"], w["reset"])
            for name, w in body["windows"].items()}


async def test_used_moves_as_questions_are_asked_and_the_status_counts_nothing(
        memory_parts: Parts) -> None:
    clock = Clock()
    app = limited_app(memory_parts, clock, rate_limit_per_minute=3, rate_limit_per_hour=5,
                      rate_limit_per_day=10, user_max_in_flight=2)
    async with client_of(app) as client:
        r = await client.get(STATUS, headers=token("ann"))
        assert r.status_code == 200, r.text
        assert windows(r.json()) == {"minute": (3, 0, 3, 0), "hour": (5, 0, 5, 0),
                                     "day": (10, 0, 10, 0)}
        assert r.json()["source"] == "default" and r.json()["user_id"] == "ann"
        assert r.json()["in_flight"] == {"limit": 2, "used": 0, "remaining": 2}
        for asked in (1, 2, 3):
            assert (await client.post("/v1/query", json=QUESTION,
                                      headers=token("ann"))).status_code == 200
            for _ in range(3):  # asked again and again, the status itself counts nothing
                body = (await client.get(STATUS, headers=token("ann"))).json()
                assert [w[1] for w in windows(body).values()  # type: ignore[index]
                        ] == [asked] * 3
        assert windows(body)["minute"] == (3, 3, 0, 80)  # room when a third has slid out
        assert windows(body)["hour"] == (5, 3, 2, 1980)  # 780 s to the hour, then a third
        refused = await client.post("/v1/query", json=QUESTION, headers=token("ann"))
        assert refused.status_code == 429
        assert refused.headers["ratelimit-reset"] == "80"  # the same arithmetic, one owner
        clock.now += 60  # the next minute: a sliding window still holds all three
        assert windows((await client.get(STATUS, headers=token("ann"))).json())[
            "minute"] == (3, 3, 0, 20)
        clock.now += 60
        assert windows((await client.get(STATUS, headers=token("ann"))).json())[
            "minute"] == (3, 0, 3, 0)


async def test_another_users_questions_never_show_and_no_user_can_be_named(
        memory_parts: Parts) -> None:
    app = limited_app(memory_parts, Clock(), rate_limit_per_minute=5)
    async with client_of(app) as client:
        for _ in range(2):
            await client.post("/v1/query", json=QUESTION, headers=token("ben"))
        mine = (await client.get(STATUS, headers=token("ann"))).json()
        assert mine["user_id"] == "ann" and windows(mine)["minute"] == (5, 0, 5, 0)
        # a user named in the query string is not read: still the token's own
        named = (await client.get(STATUS, params={"user_id": "ben"},
                                  headers=token("ann"))).json()
        assert named["user_id"] == "ann" and windows(named)["minute"] == (5, 0, 5, 0)
        theirs = (await client.get(STATUS, headers=token("ben"))).json()
        assert windows(theirs)["minute"] == (5, 2, 3, 90)
        assert (await client.get(STATUS)).status_code == 401


async def test_windows_off_are_null_and_a_tier_names_its_source(memory_parts: Parts) -> None:
    app = limited_app(memory_parts, Clock(), rate_limit_per_day=4,
                      rate_tiers={"premium": [7, 0, 0]})
    async with client_of(app) as client:
        body = (await client.get(STATUS, headers=token("ann"))).json()
        assert windows(body) == {"minute": None, "hour": None, "day": (4, 0, 4, 0)}
        assert body["in_flight"] == {"limit": None, "used": 0, "remaining": None}
        tier = (await client.get(STATUS, headers=token("vip", tier="premium"))).json()
        assert tier["source"] == "tier:premium"
        assert windows(tier) == {"minute": (7, 0, 7, 0), "hour": None, "day": None}
        spec = (await client.get("/openapi.json")).json()
    route = spec["paths"][STATUS]["get"]
    assert {"200", "401", "503"} <= set(route["responses"])
    assert {"limit", "used", "remaining", "reset"} <= set(
        spec["components"]["schemas"]["WindowStatusOut"]["properties"])
