"""Shedding at the ASGI edge (rag_core/api/edge_shed.py, rag_core/limits/loop_lag.py): a
question arriving while the worker's event loop runs later than RAG_EDGE_SHED_LAG_MS is refused
at once with 503 OVERLOADED (limit event_loop), Retry-After and the error body, before its token,
its body or anything past the edge is touched; below the limit, and on every other route, it
passes. The loop's lag is read on a clock the test moves (no probe runs: no lifespan)."""

from __future__ import annotations

import time

import httpx
import pytest
from fakes import ManualClock

from rag_core.api.asgi import Message, Receive, Scope, Send
from rag_core.api.edge_shed import EdgeShed
from rag_core.app import create_app
from rag_core.config import Settings, fixed
from rag_core.limits.loop_lag import LoopLag
from rag_core.telemetry.metrics import REGISTRY

ON_ASYNCIO = pytest.mark.parametrize("anyio_backend", ["asyncio"])


def shed_count() -> float:
    return REGISTRY.get_sample_value("requests_shed_total", {"reason": "loop_lag"}) or 0.0


def lagging(lag: LoopLag, seconds: float) -> ManualClock:
    """``lag`` on a clock of the test's, its probe's wake-up overdue by ``seconds``."""
    clock = ManualClock(1_000.0)
    lag.clock, lag.measured, lag.due = clock, 0.0, 1_000.0 - seconds
    return clock


def test_the_lag_is_the_latest_measured_or_the_probes_overdue_wake_up() -> None:
    clock = ManualClock(10.0)
    lag = LoopLag(every_s=0.05, clock=clock)
    assert lag.lag() == 0.0  # no probe running: nothing known, nobody refused
    clock.advance(0.2)
    lag.slept(10.05)  # woke 150 ms late
    assert lag.measured == pytest.approx(0.15) and lag.due == pytest.approx(10.25)
    assert lag.lag() == pytest.approx(0.15)
    clock.advance(0.45)  # its next wake-up, due at 10.25, has not come by 10.65
    assert lag.lag() == pytest.approx(0.4)
    lag.slept(10.25 + 0.4)  # then woke on time: the loop keeps up again
    assert lag.lag() == 0.0


@pytest.mark.anyio
@ON_ASYNCIO
async def test_a_question_on_a_late_loop_is_refused_at_the_edge_before_token_or_body(
        anyio_backend: str) -> None:
    app = create_app(Settings(profile="ci", edge_shed_lag_ms=250))  # no parts: nothing past
    lagging(app.state.loop_lag, 1.3)
    before = shed_count()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        # no token and a body over the route's limit: AuthFirst would say 401, BodyLimit 413
        big = b"x" * (fixed.MAX_BODY_BYTES + 1)
        r = await client.post("/v1/query", content=big,
                              headers={"content-type": "application/json"})
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "2"  # the lag, 1.3 s, rounded up
        error = r.json()["error"]
        assert (error["code"], error["limit"]) == ("OVERLOADED", "event_loop")
        assert error["request_id"] == r.headers["x-request-id"]
        assert "lag;dur=1300.0" in r.headers["server-timing"]
        health = await client.get("/healthz")  # another route: never shed at the edge
        assert health.status_code != 503
    assert shed_count() == before + 1


@pytest.mark.anyio
@ON_ASYNCIO
async def test_below_the_limit_or_with_it_off_the_question_passes_the_edge(
        anyio_backend: str) -> None:
    for limit_ms, lag_s in ((250, 0.2), (0, 9.0)):
        app = create_app(Settings(profile="ci", edge_shed_lag_ms=limit_ms))
        lagging(app.state.loop_lag, lag_s)
        before = shed_count()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.post("/v1/query", json={"query": "When was the wall rebuilt?"})
        assert r.status_code == 401, r.text  # past the edge: the token was checked
        assert r.headers["server-timing"].startswith("app;dur=")
        assert shed_count() == before


@pytest.mark.anyio
@ON_ASYNCIO
async def test_the_edge_answers_the_refusal_itself_and_never_calls_the_app_inside(
        anyio_backend: str) -> None:
    called: list[str] = []

    async def inside(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope["path"])  # Redis, the token, the body, the pipeline: all in here

    lag = LoopLag()
    lagging(lag, 0.5)
    edge = EdgeShed(inside, lag=lag, limit_ms=250)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        raise AssertionError("the edge never reads the body")

    scope: Scope = {"type": "http", "method": "POST", "path": "/v1/query", "headers": [],
             "query_string": b"", "state": {"request_id": "r1"}}
    await edge(scope, receive, send)
    assert called == [] and sent[0]["status"] == 503
    await edge({**scope, "path": "/v1/notes"}, receive, send)
    assert called == ["/v1/notes"]


@pytest.mark.anyio
@ON_ASYNCIO
async def test_server_timing_reports_the_wait_from_the_workers_read_to_the_edge(
        anyio_backend: str) -> None:
    """``queue``: the time since the protocol stamped the request's read (api.received)."""
    async def inside(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        raise AssertionError("not read")

    read_at = time.perf_counter() - 0.25  # read 250 ms before the edge saw it
    scope: Scope = {"type": "http", "method": "POST", "path": "/v1/query", "headers": [],
                    "query_string": b"", "state": {"request_id": "r1", "arrived": read_at}}
    await EdgeShed(inside, lag=LoopLag(), limit_ms=250)(scope, receive, send)
    timing = dict(sent[0]["headers"])[b"server-timing"].decode()
    queue = float(timing.split("queue;dur=")[1])
    assert 250.0 <= queue < 250.0 + 60_000  # at least the wait; a generous bound above it


@pytest.mark.anyio
@ON_ASYNCIO
async def test_the_openapi_document_names_the_edges_503(anyio_backend: str) -> None:
    app = create_app(Settings(profile="ci"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        spec = (await client.get("/openapi.json")).json()
    replies = spec["paths"]["/v1/query"]["post"]["responses"]["503"]
    assert "event_loop" in replies["description"] and "Retry-After" in replies["headers"]
