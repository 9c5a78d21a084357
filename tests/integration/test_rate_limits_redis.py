"""The request limits counted in the real Redis, shared by every process (two gates with clients
of their own stand for two servers), on a clock the test sets; Redis frozen (SIGSTOP) and killed:
questions go on being admitted and limited in process, never failed; a user's own limits in the
real PostgreSQL, and ``rag-core limits set|show|clear``."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from servers import RedisProcess

from rag_core.cli.main import main
from rag_core.config import Settings
from rag_core.errors import Overloaded, RateLimited
from rag_core.limits import Admission, QuestionGate
from rag_core.parts import build_store, variant
from rag_core.redis_kv.client import connect
from rag_core.store.user_limits import MemoryUserLimits, PgUserLimits

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
START = 1_000_020.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limits(**given: int) -> Settings:
    off = {"rate_limit_per_minute": 0, "rate_limit_per_hour": 0, "rate_limit_per_day": 0,
           "max_queries_per_hour": 0, "max_concurrent_queries": 0, "user_max_in_flight": 0}
    return Settings(profile="ci", **{**off, **given})


def gates(url: str, settings: Settings, clock: Clock, n: int = 2) -> list[QuestionGate]:
    """``n`` gates on one Redis, each with a client of its own: ``n`` servers."""
    return [QuestionGate(settings.limits, connect(url, timeout_s=0.25), MemoryUserLimits(),
                         clock=clock) for _ in range(n)]


async def outcomes(gate: QuestionGate, user: str, n: int) -> list[str]:
    found = []
    for _ in range(n):
        try:
            (await gate.admit(user)).release()
            found.append("ok")
        except (RateLimited, Overloaded) as exc:
            found.append(exc.limit)
    return found


async def test_two_servers_on_one_redis_answer_exactly_the_minute_limit(redis_url: str) -> None:
    clock = Clock()
    one, two = gates(redis_url, limits(rate_limit_per_minute=10), clock)
    seen = []
    for n in range(30):  # one user, 30 questions in a minute, through both servers in turn
        seen += await outcomes(one if n % 2 else two, "ann", 1)
        clock.now += 1.5
    assert seen.count("ok") == 10 and seen.count("minute") == 20
    assert seen[:10] == ["ok"] * 10


async def test_the_global_cap_holds_across_servers(redis_url: str) -> None:
    clock = Clock()
    one, two = gates(redis_url, limits(max_concurrent_queries=3), clock)
    held: list[Admission] = [await one.admit("a"), await two.admit("b"), await one.admit("c")]
    with pytest.raises(Overloaded) as refused:
        await two.admit("d")  # waits its second in the fair queue, then 503
    assert refused.value.limit == "concurrent"
    held.pop().release()
    held.append(await two.admit("d"))  # a place freed on one server is seen by the other
    for admission in held:
        admission.release()


async def test_the_global_hour_is_shared_by_every_user_and_server(redis_url: str) -> None:
    one, two = gates(redis_url, limits(max_queries_per_hour=3), Clock())
    assert await outcomes(one, "a", 2) + await outcomes(two, "b", 2) == [
        "ok", "ok", "ok", "global_hour"]


async def test_a_users_questions_in_flight_are_counted_across_servers(redis_url: str) -> None:
    one, two = gates(redis_url, limits(user_max_in_flight=2), Clock())
    held = [await one.admit("ann"), await two.admit("ann")]
    with pytest.raises(RateLimited) as refused:
        await one.admit("ann")
    assert refused.value.limit == "in_flight"
    assert await outcomes(two, "ben", 1) == ["ok"]
    for admission in held:
        admission.release()
    assert await outcomes(one, "ann", 1) == ["ok"]


async def test_a_place_of_a_server_that_died_is_freed_when_its_lease_ends(
        redis_url: str) -> None:
    clock = Clock()
    one, two = gates(redis_url, limits(max_concurrent_queries=1), clock)
    await one.admit("a")  # never released: its server died
    clock.now += 601  # the lease (LEASE_S) has ended
    (await two.admit("b")).release()


def redis_calls(url: str) -> dict[str, int]:
    """The calls of each command the Redis at ``url`` has run (a script's own included)."""
    import redis

    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def test_the_status_read_is_one_redis_call_counts_nothing_and_sees_every_server(
        redis_factory: Callable[[], RedisProcess]) -> None:
    own = redis_factory()
    clock = Clock()
    one, two = gates(own.url, limits(rate_limit_per_minute=4, rate_limit_per_day=9), clock)
    assert await outcomes(one, "ann", 3) == ["ok"] * 3
    await two.remaining("ann")  # the script loaded on the second server's client
    before = redis_calls(own.url)
    found = await two.remaining("ann")
    ran = {k: n - before.get(k, 0) for k, n in redis_calls(own.url).items()
           if n != before.get(k, 0) and k not in ("info", "hello", "client")}  # this count's
    assert ran.pop("evalsha") == 1  # one round trip: the gate's script, which only reads
    assert set(ran) <= {"zremrangebyscore", "zcard", "get"}, ran
    minute, day = found.counts["minute"], found.counts["day"]
    assert minute is not None and day is not None and found.counts["hour"] is None
    assert (minute.used(), minute.remaining(), day.used(), day.remaining()) == (3, 1, 3, 6)
    assert await outcomes(one, "ann", 2) == ["ok", "minute"]  # the reads took nothing


@pytest.mark.parametrize("fault", ["killed", "frozen"])
async def test_with_redis_down_questions_are_limited_in_process_never_failed(
        redis_factory: Callable[[], RedisProcess], fault: str) -> None:
    own = redis_factory()
    clock = Clock()
    (gate,) = gates(own.url, limits(rate_limit_per_minute=3), clock, n=1)
    assert await outcomes(gate, "ann", 1) == ["ok"]
    assert own.proc is not None
    if fault == "killed":
        own.stop()
    else:
        os.kill(own.proc.pid, signal.SIGSTOP)
    try:
        # counted in this process from here on, at the same rate
        assert await outcomes(gate, "ann", 4) == ["ok", "ok", "ok", "minute"]
        assert await outcomes(gate, "ben", 1) == ["ok"]
        assert gate.remote is not None and gate._rest_until > 0
    finally:
        if fault == "frozen":
            os.kill(own.proc.pid, signal.SIGCONT)


async def test_own_limits_live_in_postgresql_and_need_no_notes(database_url: str,
                                                               tmp_path: Path) -> None:
    store = build_store(Settings(profile="ci", state_dir=tmp_path, database_url=database_url))
    try:
        table = PgUserLimits(store.pool.db)
        assert table.get("nobody") is None
        assert table.set("nobody", (5, None, None)) == (5, None, None)
        assert table.set("nobody", (None, 50, 0)) == (5, 50, 0)  # a window not given stays
        assert table.get("nobody") == (5, 50, 0)
        assert table.clear("nobody") and not table.clear("nobody")
        assert store.list_notes("nobody") == []
    finally:
        store.close()


def test_the_limits_command_sets_shows_and_clears(database_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_PROFILE", "prod")
    monkeypatch.setenv("RAG_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RAG_RATE_TIERS", '{"premium": [60, 1000, 5000]}')

    def run(*argv: str) -> dict[str, object]:
        assert main(["limits", *argv]) == 0
        return dict(json.loads(capsys.readouterr().out))

    shown = run("show", "newcomer")  # no limits of their own: the defaults, exit 0
    assert (shown["source"], shown["per_minute"], shown["per_hour"], shown["per_day"],
            shown["own"]) == ("default", 10, 100, 500, None)
    assert run("show", "newcomer", "--tier", "premium")["per_minute"] == 60
    set_ = run("set", "newcomer", "--per-minute", "30", "--per-day", "0")
    assert (set_["per_minute"], set_["per_hour"], set_["per_day"]) == (30, 100, 0)
    assert set_["source"] == "own over default"
    assert run("show", "newcomer", "--tier", "premium")["per_hour"] == 1000
    cleared = run("clear", "newcomer")
    assert cleared["cleared"] is True and cleared["own"] is None


@pytest.mark.parametrize(("argv", "says"), [
    (["set", "ann"], "at least one of"),
    (["set", "ann", "--per-minute", "-1"], "must be at least 0"),
    (["set", "ann", "--per-hour", "ten"], "is not a whole number"),
    (["show", "ann", "--per-day", "3"], "go with set"),
    (["show", "not a user"], "INVALID_USER"),
])
def test_the_limits_command_refuses_bad_input_with_exit_2(
        argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["limits", *argv])
    except SystemExit as ended:  # argparse's own refusal of a value
        code = int(str(ended.code))
    assert code == 2
    assert says in capsys.readouterr().err


async def test_the_app_counts_in_the_redis_its_parts_were_built_on(
        memory_parts: Any, redis_url: str) -> None:
    """The app's own Settings name no Redis when the embedded one is used (the parts' Settings
    carry the URL ``services.resolve`` found): the limits count there, not in one process."""
    import httpx
    import redis

    from rag_core.api.auth import issue_token
    from rag_core.app import create_app

    secret = "served-limits-secret-0123456789abcdef0123456789abcdef"
    app_settings = memory_parts.settings.with_overrides(jwt_secret=secret,
                                                        rate_limit_per_minute=5)
    parts = variant(memory_parts, settings=app_settings.with_overrides(redis_url=redis_url))
    app = create_app(app_settings, parts=parts)
    token = issue_token(app_settings, "ann")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        r = await client.post("/v1/query", json={"query": "What about the wall?"},
                              headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.headers["ratelimit-remaining"] == "4"
    counted = redis.Redis.from_url(redis_url).keys("rag:limits:*")
    assert any(b":w:" in key for key in counted)


async def test_the_app_answers_and_limits_with_its_redis_killed_never_500(
        memory_parts: Any, redis_factory: Callable[[], RedisProcess]) -> None:
    import httpx

    from rag_core.api.auth import issue_token
    from rag_core.app import create_app

    own = redis_factory()
    secret = "killed-redis-secret-0123456789abcdef0123456789abcdef"
    settings = memory_parts.settings.with_overrides(jwt_secret=secret, rate_limit_per_minute=3,
                                                    redis_url=own.url)
    app = create_app(settings, parts=variant(memory_parts, settings=settings))
    headers = {"Authorization": f"Bearer {issue_token(settings, 'ann')}"}
    statuses = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        for n in range(5):
            if n == 1:
                own.stop()  # counted in this process from here on, from nothing
            r = await client.post("/v1/query", json={"query": "What about the wall?"},
                                  headers=headers)
            statuses.append(r.status_code)
    assert statuses == [200, 200, 200, 200, 429]


def test_own_limits_keep_the_last_value_read_while_postgresql_is_down(
        own_postgres: Any, tmp_path: Path) -> None:
    from rag_core.limits import RateLimits
    from rag_core.limits.own import OwnLimits

    settings = Settings(profile="ci", state_dir=tmp_path, database_url=own_postgres.url,
                        db_connect_timeout_s=1, db_pool_timeout_s=1.0)
    store = build_store(settings)
    now = [0.0]
    try:
        table = PgUserLimits(store.pool.db)
        table.set("ann", (2, 20, 200))
        own = OwnLimits(table, clock=lambda: now[0])
        assert own.read("ann") == RateLimits(2, 20, 200)
        own_postgres.stop()
        now[0] += 60  # the cached read is old: read again, and the database fails
        assert own.read("ann") == RateLimits(2, 20, 200)  # never unlimited for it
        assert own.read("bob") is None  # no row known: the tier's or the defaults apply
    finally:
        store.close()
