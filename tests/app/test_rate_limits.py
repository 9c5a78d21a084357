"""The request limits on the question routes, in process (httpx.ASGITransport) on the fast
lane's parts, counted in process on a clock the test sets: 429 RATE_LIMITED naming the minute,
hour, day or in-flight limit, 503 OVERLOADED for the global ones, Retry-After and the RateLimit
headers, tiers and a user's own limits, /v1/stats, and a limited question costing no pipeline
work. The same counts in the real Redis (shared by processes, Redis frozen and killed) are in
tests/integration/test_rate_limits_redis.py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from rag_core.answers.drive import ExactLookup
from rag_core.app import create_app
from rag_core.cache.shares import user_shares
from rag_core.config import Settings
from rag_core.limits import QuestionGate
from rag_core.parts import Parts, build_limiters
from rag_core.pipeline import Pipeline
from rag_core.telemetry.metrics import RATE_LIMIT_REJECTIONS as REJECTIONS
from rag_core.telemetry.metrics import REQUESTS

pytestmark = pytest.mark.anyio
SECRET = "rate-limit-test-secret-5d0c1c7f3f2b4f0f8a8e3c6b9d1e2f3a4b5c6d7e8f9a0b1c"
QUESTION = {"query": "What did the notes say about the wall?"}
START = 1_000_020.0  # the start of a minute, an hour and a day are all multiples of 60


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token(user: str, **claims: Any) -> dict[str, str]:
    now = int(time.time())
    raw = jwt.encode({"sub": user, "iat": now, "exp": now + 600, **claims}, SECRET,
                     algorithm="HS256")
    return {"Authorization": f"Bearer {raw}"}


def limited_app(parts: Parts, clock: Clock, **limits: Any) -> FastAPI:
    off = {"rate_limit_per_minute": 0, "rate_limit_per_hour": 0, "rate_limit_per_day": 0,
           "max_queries_per_hour": 0, "max_concurrent_queries": 0, "user_max_in_flight": 0}
    settings = parts.settings.with_overrides(jwt_secret=SECRET, **{**off, **limits})
    limiters = build_limiters(settings, None, parts.limiters.user_limits, clock=clock)
    return create_app(settings, parts=replace(parts, settings=settings, limiters=limiters))


def gate_of(app: FastAPI) -> QuestionGate:
    """The gate of the app's parts (``limited_app`` turns a limit on: there is one)."""
    gate = app.state.parts.limiters.gate
    assert isinstance(gate, QuestionGate)
    return gate


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def until(condition: Callable[[], bool], deadline_s: float = 30.0) -> None:
    """Wait for ``condition`` (a generous deadline: a condition, not a timing)."""
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, "the condition never held"
        await asyncio.sleep(0.005)


def rejections(limit: str) -> float:
    return REJECTIONS.labels(limit=limit)._value.get()


async def test_the_minute_limit_refuses_naming_it_until_the_window_slides(
        memory_parts: Parts) -> None:
    clock = Clock()
    before = rejections("minute")
    async with client_of(limited_app(memory_parts, clock, rate_limit_per_minute=3)) as client:
        left = []
        for _ in range(3):
            r = await client.post("/v1/query", json=QUESTION, headers=token("ann"))
            assert r.status_code == 200, r.text
            assert r.headers["ratelimit-limit"] == "3"
            left.append(r.headers["ratelimit-remaining"])
        assert left == ["2", "1", "0"]
        r = await client.post("/v1/query", json=QUESTION, headers=token("ann"))
        assert r.status_code == 429
        error = r.json()["error"]
        assert error["code"] == "RATE_LIMITED" and error["limit"] == "minute"
        # 3 in this minute: the sliding window has room once a third of them has slid out,
        # 20 s into the next minute
        assert r.headers["retry-after"] == "80" and r.headers["ratelimit-reset"] == "80"
        assert r.headers["ratelimit-remaining"] == "0"
        other = await client.post("/v1/query", json=QUESTION, headers=token("ben"))
        assert other.status_code == 200  # per user
        clock.now += 79
        r = await client.post("/v1/query", json=QUESTION, headers=token("ann"))
        assert r.status_code == 429
        clock.now += 1
        r = await client.post("/v1/query", json=QUESTION, headers=token("ann"))
        assert r.status_code == 200, r.text
    assert rejections("minute") == before + 2


@pytest.mark.parametrize("window", ["hour", "day"])
async def test_the_hour_and_day_limits_are_named_when_they_refuse(memory_parts: Parts,
                                                                  window: str) -> None:
    app = limited_app(memory_parts, Clock(), rate_limit_per_minute=10,
                      **{f"rate_limit_per_{window}": 2})
    async with client_of(app) as client:
        for _ in range(2):
            r = await client.post("/v1/query", json=QUESTION, headers=token("ann"))
            assert r.status_code == 200 and r.headers["ratelimit-limit"] == "2"
        r = await client.post("/v1/query", json=QUESTION, headers=token("ann"))
        assert r.status_code == 429 and r.json()["error"]["limit"] == window
        assert window in r.json()["error"]["message"]
        assert int(r.headers["retry-after"]) > 60


async def test_headers_name_the_tightest_limit(memory_parts: Parts) -> None:
    app = limited_app(memory_parts, Clock(), rate_limit_per_minute=10, rate_limit_per_hour=4,
                      rate_limit_per_day=100)
    async with client_of(app) as client:
        r = await client.post("/v1/query", json=QUESTION, headers=token("ann"))
        assert (r.headers["ratelimit-limit"], r.headers["ratelimit-remaining"]) == ("4", "3")


async def test_a_limited_question_costs_no_pipeline_work(memory_parts: Parts,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A question its windows refuse is validated (CPU, no I/O) and refused at step 2's read,
    in that read's one round trip with Redis (tests/app/test_admission_trip.py): it reads no
    cache, embeds, searches and asks no model, writes nothing, and is not counted as the
    pipeline's error; a refused stream never reaches the pipeline."""
    calls: list[str] = []
    for owner, name in ((ExactLookup, "read"), (Pipeline, "_prepare"), (Pipeline, "stream")):
        real = getattr(owner, name)

        def spy(self: object, *args: Any, _real: Any = real, _name: str = name,
                **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    app = limited_app(memory_parts, Clock(), rate_limit_per_minute=1)
    async with client_of(app) as client:
        assert (await client.post("/v1/query", json=QUESTION,
                                  headers=token("ann"))).status_code == 200
        seen, held = len(calls), user_shares(memory_parts.caches, "ann")
        errors = REQUESTS.labels(outcome="error")._value.get()
        other = {"query": "A question never asked before about gates?"}
        r = await client.post("/v1/query", json=other, headers=token("ann"))
        assert r.status_code == 429
        r = await client.post("/v1/query", json={**other, "stream": True}, headers=token("ann"))
        assert r.status_code == 429 and r.json()["error"]["limit"] == "minute"
    assert len(calls) == seen  # no cache read, no steps 3-7, no stream
    assert user_shares(memory_parts.caches, "ann") == held  # nothing written to a cache
    assert REQUESTS.labels(outcome="error")._value.get() == errors


async def test_a_stream_counts_and_carries_the_headers(memory_parts: Parts) -> None:
    app = limited_app(memory_parts, Clock(), rate_limit_per_minute=2)
    async with client_of(app) as client:
        r = await client.post("/v1/query", json={**QUESTION, "stream": True},
                              headers=token("ann"))
        assert r.status_code == 200 and "event: answer" in r.text
        assert r.headers["ratelimit-remaining"] == "1"
        await client.post("/v1/query", json=QUESTION, headers=token("ann"))
        r = await client.post("/v1/query", json={**QUESTION, "stream": True},
                              headers=token("ann"))
        assert r.status_code == 429
    gate = gate_of(app)
    assert not gate.here  # every place in flight given back, the stream's too


async def test_a_tier_claim_selects_its_limits_and_an_unknown_tier_gets_the_defaults(
        memory_parts: Parts) -> None:
    app = limited_app(memory_parts, Clock(), rate_limit_per_minute=1,
                      rate_tiers={"premium": [3, 0, 0]})
    async with client_of(app) as client:
        for _ in range(3):
            r = await client.post("/v1/query", json=QUESTION, headers=token("pat", tier="premium"))
            assert r.status_code == 200 and r.headers["ratelimit-limit"] == "3"
        assert (await client.post("/v1/query", json=QUESTION, headers=token(
            "pat", tier="premium"))).status_code == 429
        for forged in ("gold", "", 7, ["premium"]):
            user = f"forger{forged!s:.5}".replace(" ", "").replace("[", "").replace("'", "")
            r = await client.post("/v1/query", json=QUESTION, headers=token(user, tier=forged))
            assert r.status_code == 200 and r.headers["ratelimit-limit"] == "1"
            r = await client.post("/v1/query", json=QUESTION, headers=token(user, tier=forged))
            assert r.status_code == 429


async def test_a_users_own_limits_win_over_the_tier_and_take_effect_without_restart(
        memory_parts: Parts) -> None:
    app = limited_app(memory_parts, Clock(), rate_limit_per_minute=1,
                      rate_tiers={"premium": [3, 0, 0]})
    table = memory_parts.limiters.user_limits
    gate = gate_of(app)
    async with client_of(app) as client:
        r = await client.post("/v1/query", json=QUESTION, headers=token("vip", tier="premium"))
        assert r.headers["ratelimit-limit"] == "3"
        table.set("vip", (5, None, None))
        gate.own.clock = lambda: time.monotonic() + 3_600  # the cached read has expired
        r = await client.post("/v1/query", json=QUESTION, headers=token("vip", tier="premium"))
        assert r.headers["ratelimit-limit"] == "5"
        r = await client.get("/v1/stats", headers=token("vip", tier="premium"))
        limits = r.json()["limits"]
        assert limits["source"] == "own over tier:premium" and limits["per_minute"] == 5
        assert limits["remaining_minute"] == 3 and limits["in_flight"] == 0
        table.clear("vip")
        gate.own.clock = lambda: time.monotonic() + 7_200
        r = await client.get("/v1/stats", headers=token("vip", tier="premium"))
        assert r.json()["limits"]["source"] == "tier:premium"


async def test_stats_show_what_is_left_and_count_nothing(memory_parts: Parts) -> None:
    app = limited_app(memory_parts, Clock(), rate_limit_per_minute=3, rate_limit_per_day=10)
    async with client_of(app) as client:
        await client.post("/v1/query", json=QUESTION, headers=token("ann"))
        for _ in range(2):
            limits = (await client.get("/v1/stats", headers=token("ann"))).json()["limits"]
            assert (limits["remaining_minute"], limits["remaining_hour"],
                    limits["remaining_day"]) == (2, None, 9)
        assert limits["source"] == "default" and limits["per_hour"] is None


def held_past_the_cache(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Questions that go past the exact cache (where a place in flight is taken) wait before
    steps 3-5 (``Pipeline._prepare``) until the returned event is set."""
    release = threading.Event()
    real = Pipeline._prepare

    def slow(self: Pipeline, *args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "_prepare", slow)
    return release


async def test_a_user_over_their_questions_in_flight_gets_429_in_flight(
        memory_parts: Parts, monkeypatch: pytest.MonkeyPatch) -> None:
    release = held_past_the_cache(monkeypatch)
    before = rejections("in_flight")
    app = limited_app(memory_parts, Clock(), user_max_in_flight=2)
    gate = gate_of(app)
    async with client_of(app) as client:
        held = [asyncio.create_task(client.post("/v1/query", json=QUESTION,
                                                headers=token("ann"))) for _ in range(2)]
        await until(lambda: gate.here["ann"] == 2)
        r = await client.post("/v1/query", json=QUESTION, headers=token("ann"))
        assert r.status_code == 429 and r.json()["error"]["limit"] == "in_flight"
        assert "retry-after" in r.headers
        release.set()
        assert [t.status_code for t in await asyncio.gather(*held)] == [200, 200]
    assert rejections("in_flight") == before + 1


async def test_the_global_cap_waits_in_the_fair_queue_then_answers_503(
        memory_parts: Parts, monkeypatch: pytest.MonkeyPatch) -> None:
    release = held_past_the_cache(monkeypatch)
    app = limited_app(memory_parts, Clock(), max_concurrent_queries=1, rate_limit_per_minute=5)
    gate = gate_of(app)
    async with client_of(app) as client:
        held = asyncio.create_task(client.post("/v1/query", json=QUESTION, headers=token("ann")))
        await until(lambda: bool(gate.here))
        r = await client.post("/v1/query", json=QUESTION, headers=token("ben"))
        assert r.status_code == 503 and r.json()["error"]["code"] == "OVERLOADED"
        assert r.json()["error"]["limit"] == "concurrent" and r.headers["retry-after"] == "1"
        assert r.headers["ratelimit-remaining"] == "5"  # nothing of ben's was counted
        release.set()
        assert (await held).status_code == 200


async def test_a_cached_answer_takes_no_place_in_flight_but_counts_in_the_windows(
        app_parts: Parts, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every place in flight taken by a question past the cache: the exact repeat of an
    answered question is still answered (a hit costs the model and the CPU nothing worth a
    place), and counted in the minute; a flood of repeats still meets the window's 429.
    Redis caches: the exact lookup the route makes before any place is taken."""
    question = {"query": "What did Okafor say about Abraham leaving Haran?"}
    app = limited_app(app_parts, Clock(), max_concurrent_queries=1, user_max_in_flight=1,
                      rate_limit_per_minute=4)
    gate = gate_of(app)
    async with client_of(app) as client:
        first = await client.post("/v1/query", json=question, headers=token("amara"))
        assert first.status_code == 200 and first.json()["cache"]["query"] == "miss"
        release = held_past_the_cache(monkeypatch)
        held = asyncio.create_task(client.post("/v1/query", json=QUESTION,
                                               headers=token("amara")))
        await until(lambda: gate.here["amara"] == 1)
        hit = await client.post("/v1/query", json=question, headers=token("amara"))
        assert hit.status_code == 200, hit.text
        assert hit.json()["cache"]["query"] == "hit"
        assert hit.headers["ratelimit-remaining"] == "1"  # the miss, the held one, the hit
        assert gate.here["amara"] == 1  # the hit took no place, left nothing to give back
        flood = await client.post("/v1/query", json=question, headers=token("amara"))
        assert flood.status_code == 200
        over = await client.post("/v1/query", json=question, headers=token("amara"))
        assert over.status_code == 429 and over.json()["error"]["limit"] == "minute"
        release.set()
        assert (await held).status_code == 200


async def test_the_global_hour_answers_503_overloaded(memory_parts: Parts) -> None:
    app = limited_app(memory_parts, Clock(), max_queries_per_hour=2)
    async with client_of(app) as client:
        for user in ("ann", "ben"):
            assert (await client.post("/v1/query", json=QUESTION,
                                      headers=token(user))).status_code == 200
        r = await client.post("/v1/query", json=QUESTION, headers=token("cy"))
        assert r.status_code == 503 and r.json()["error"]["limit"] == "global_hour"
        assert int(r.headers["retry-after"]) > 60


async def test_the_next_place_goes_to_the_user_with_the_fewest_in_flight(
        memory_parts: Parts) -> None:
    settings = memory_parts.settings.with_overrides(max_concurrent_queries=2,
                                                    user_max_in_flight=0)
    gate = QuestionGate(settings.limits, None, memory_parts.limiters.user_limits,
                        clock=Clock())
    flood = [await gate.admit("flooder") for _ in range(2)]  # every place taken
    waiting = [asyncio.create_task(gate.admit("flooder"))]
    await until(lambda: len(gate.queue) == 1)
    waiting.append(asyncio.create_task(gate.admit("victim")))  # arrives later
    await until(lambda: len(gate.queue) == 2)
    flood[0].release()
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    assert [t for t in waiting if t in done] == [waiting[1]]  # the victim, not the flooder
    first = waiting[1].result()
    assert first.user == "victim"
    for admission in [flood[1], first]:
        admission.release()
    (await waiting[0]).release()
    assert not gate.here


def test_every_limit_is_off_in_ci_and_dev_rates_off_prod_on() -> None:
    ci, dev, prod = (Settings(profile=p).limits for p in ("ci", "dev", "prod"))
    assert (ci.rate_limit_per_minute, ci.max_concurrent_queries, ci.user_max_in_flight,
            ci.max_queries_per_hour) == (0, 0, 0, 0)
    assert (dev.rate_limit_per_minute, dev.rate_limit_per_hour, dev.rate_limit_per_day) == (
        0, 0, 0)
    assert (prod.rate_limit_per_minute, prod.rate_limit_per_hour, prod.rate_limit_per_day,
            prod.max_concurrent_queries, prod.max_queries_per_hour,
            prod.user_max_in_flight) == (10, 100, 500, 100, 1_000, 4)


async def test_the_openapi_document_shows_the_limits_replies_and_headers(
        memory_parts: Parts) -> None:
    app = limited_app(memory_parts, Clock(), rate_limit_per_minute=1)  # ci: the docs are on
    async with client_of(app) as client:
        spec = (await client.get("/openapi.json")).json()
    responses = spec["paths"]["/v1/query"]["post"]["responses"]
    assert "RATE_LIMITED" in responses["429"]["description"]
    assert "OVERLOADED" in responses["503"]["description"]
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
            "Retry-After"} <= set(responses["429"]["headers"])
    assert "Retry-After" in responses["503"]["headers"]
    assert "RateLimit-Remaining" in responses["200"]["headers"]
    detail = spec["components"]["schemas"]["ErrorDetail"]["properties"]
    assert "limit" in detail
    assert "limits" in spec["components"]["schemas"]["StatsOut"]["properties"]
