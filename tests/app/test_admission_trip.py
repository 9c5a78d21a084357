"""Admission in the exact lookup's round trip (issue 78): with the request limits counted in
the Redis that holds the caches, a cached answer costs its windows and its lookup one script
(``limits.gate.Counting``, ``redis_kv.joined``), takes no place in flight and gives nothing
back; a flood of exact repeats meets its window's 429 in that same trip, unread; an invalid
question counts in its windows and keeps its own answer. Real PostgreSQL and Redis, in process
(httpx.ASGITransport), on a clock the test sets."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from test_rate_limits import SECRET, START, Clock, token

from rag_core.app import create_app
from rag_core.limits import QuestionGate
from rag_core.parts import Parts, build_limiters, build_redis
from rag_core.redis_kv import keys
from rag_core.telemetry import metrics

pytestmark = pytest.mark.anyio
QUESTION = {"query": "What did Okafor say about Abraham leaving Haran?"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def redis(app_parts: Parts) -> Iterator[Any]:
    import redis as redis_py

    url = app_parts.settings.services.redis_url
    assert url is not None
    client = redis_py.Redis.from_url(url)
    yield client
    client.close()


def redis_app(parts: Parts, clock: Clock, **limits: Any) -> FastAPI:
    """The app with its limits counted in the caches' Redis (the shared client)."""
    off = {"rate_limit_per_minute": 0, "rate_limit_per_hour": 0, "rate_limit_per_day": 0,
           "max_queries_per_hour": 0, "max_concurrent_queries": 0, "user_max_in_flight": 0}
    settings = parts.settings.with_overrides(jwt_secret=SECRET, **{**off, **limits})
    limiters = build_limiters(settings, build_redis(parts.settings), parts.limiters.user_limits,
                              clock=clock)
    return create_app(settings, parts=replace(parts, settings=settings, limiters=limiters))


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


class Sent:
    """The commands clients send Redis inside the block (``MONITOR``; those a script makes
    left out), read up to a marker sent after the block (a condition, not a wait)."""

    def __init__(self, redis: Any) -> None:
        self.marker = redis.connection_pool.get_connection()  # connected before the monitor
        self.marker.connect()
        self.pool = redis.connection_pool
        self.monitor = redis.monitor()

    def __enter__(self) -> Sent:
        self.monitor.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.monitor.__exit__(*exc)
        self.pool.release(self.marker)

    def commands(self) -> list[str]:
        marker = uuid.uuid4().hex
        self.marker.send_command("ECHO", marker)
        self.marker.read_response()
        found = []
        while marker not in (seen := self.monitor.next_command())["command"]:
            if seen["client_type"] != "lua":
                found.append(seen["command"].split()[0].lower())
        return found


def counted(user: str, redis: Any) -> int:
    """The questions counted in ``user``'s minute in Redis (the clock stays in one minute)."""
    return int(redis.get(keys.limit_window(user, "minute", int(START // 60))) or 0)


async def test_a_hit_costs_its_windows_and_its_lookup_one_round_trip(
        app_parts: Parts, redis: Any) -> None:
    app = redis_app(app_parts, Clock(), rate_limit_per_minute=5, user_max_in_flight=2,
                    max_concurrent_queries=10)
    gate: QuestionGate | None = app.state.parts.limiters.gate
    assert gate is not None
    async with client_of(app) as client:
        first = await client.post("/v1/query", json=QUESTION, headers=token("amara"))
        assert first.status_code == 200 and first.json()["cache"]["query"] == "miss"
        await client.post("/v1/query", json=QUESTION, headers=token("amara"))  # scripts loaded
        with Sent(redis) as sent:
            hit = await client.post("/v1/query", json=QUESTION, headers=token("amara"))
            during = sent.commands()
    assert hit.status_code == 200 and hit.json()["cache"]["query"] == "hit"
    assert hit.headers["ratelimit-remaining"] == "2"  # the miss and the two hits, counted
    # one script for the windows and the lookup; no place taken, none given back
    assert during == ["evalsha"]
    assert not gate.here


async def test_a_flood_of_exact_repeats_meets_its_windows_429_in_the_one_trip(
        app_parts: Parts, redis: Any) -> None:
    app = redis_app(app_parts, Clock(), rate_limit_per_minute=3)
    async with client_of(app) as client:
        for _ in range(3):
            r = await client.post("/v1/query", json=QUESTION, headers=token("flo"))
            assert r.status_code == 200
        errors = metrics.REQUESTS.labels(outcome="error")._value.get()
        hits = metrics.CACHE_HITS.labels(layer="query")._value.get()
        with Sent(redis) as sent:
            over = await client.post("/v1/query", json=QUESTION, headers=token("flo"))
            during = sent.commands()
    assert over.status_code == 429, over.text
    assert over.json()["error"]["limit"] == "minute" and over.headers["retry-after"]
    assert over.headers["ratelimit-remaining"] == "0"
    assert during == ["evalsha"]
    # refused before any work: no answer read, no request counted as the pipeline's error
    assert metrics.CACHE_HITS.labels(layer="query")._value.get() == hits
    assert metrics.REQUESTS.labels(outcome="error")._value.get() == errors
    assert counted("flo", redis) == 3


async def test_an_invalid_question_counts_in_its_windows_and_keeps_its_own_answer(
        app_parts: Parts, redis: Any) -> None:
    app = redis_app(app_parts, Clock(), rate_limit_per_minute=2)
    async with client_of(app) as client:
        for n in range(3):
            bad = await client.post("/v1/query", json={"query": "?!?"}, headers=token("ivy"))
            assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_QUERY"
            assert counted("ivy", redis) == min(n + 1, 2)
        r = await client.post("/v1/query", json=QUESTION, headers=token("ivy"))
    assert r.status_code == 429 and r.json()["error"]["limit"] == "minute"


async def test_while_redis_rests_the_windows_are_counted_here_and_the_lookup_goes_alone(
        app_parts: Parts, redis: Any) -> None:
    """After Redis failed the gate counts in this process for a while: the windows cannot ride
    in the lookup's trip then; they are counted here first and still limit."""
    app = redis_app(app_parts, Clock(), rate_limit_per_minute=2)
    gate: QuestionGate | None = app.state.parts.limiters.gate
    assert gate is not None
    async with client_of(app) as client:
        await client.post("/v1/query", json=QUESTION, headers=token("rey"))
        gate._rest_until = time.monotonic() + 3_600  # as after a failed call
        await client.post("/v1/query", json=QUESTION, headers=token("rey"))  # connected
        with Sent(redis) as sent:
            hit = await client.post("/v1/query", json=QUESTION, headers=token("rey"))
            during = sent.commands()
        over = await client.post("/v1/query", json=QUESTION, headers=token("rey"))
    assert hit.status_code == 200 and hit.json()["cache"]["query"] == "hit"
    assert during == ["evalsha"]  # the lookup's own script
    assert counted("rey", redis) == 1  # the first question; the hit counted in this process
    assert over.status_code == 429  # this process's minute holds the two hits
