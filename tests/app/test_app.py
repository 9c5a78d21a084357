"""The API through httpx.ASGITransport, with the real pipeline on real PostgreSQL and Redis."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def client(app_settings: Settings, app_parts: Any) -> httpx.AsyncClient:
    app = create_app(app_settings, parts=app_parts)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def auth(settings: Settings, user: str = "amara") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, user)}"}


async def test_query_with_valid_token(client: httpx.AsyncClient, app_settings: Settings) -> None:
    r = await client.post("/v1/query", json={"query": "Who rebuilt the wall of Jerusalem?"},
                          headers=auth(app_settings))
    assert r.status_code == 200
    body = r.json()
    assert body["citations"] and not body["no_context"]
    assert body["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize("kind", ["missing", "expired", "forged", "garbage", "bad_sub"])
async def test_bad_tokens_get_401_with_code(client: httpx.AsyncClient, app_settings: Settings,
                                            kind: str) -> None:
    now = int(time.time())
    secret = app_settings.auth.jwt_secret.get_secret_value()
    tokens = {
        "expired": jwt.encode({"sub": "amara", "exp": now - 3600}, secret, algorithm="HS256"),
        "forged": jwt.encode({"sub": "amara", "exp": now + 3600},
                             "not-the-secret-but-long-enough-for-hs256-keys", algorithm="HS256"),
        "garbage": "abc.def.ghi",
        "bad_sub": jwt.encode({"sub": "a b!", "exp": now + 3600}, secret, algorithm="HS256"),
    }
    headers = {} if kind == "missing" else {"Authorization": f"Bearer {tokens[kind]}"}
    r = await client.post("/v1/query", json={"query": "faith"}, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "UNAUTHORIZED"
    assert r.headers["www-authenticate"] == "Bearer"


async def test_request_id_round_trip(client: httpx.AsyncClient, app_settings: Settings) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.post("/v1/query", json={"query": ""}, headers={
        **auth(app_settings), "X-Request-ID": "given-id"})
    assert r.status_code == 422
    assert r.json()["error"] == {"code": "INVALID_QUERY", "message": "The question is empty.",
                                 "request_id": "given-id"}
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces" and len(r.headers["x-request-id"])


@pytest.mark.parametrize("payload,status,code", [
    ({"query": "x" * 1001}, 422, "INVALID_QUERY"),
    ({"query": 5}, 422, "INVALID_REQUEST"),
    ({"nothing": 1}, 422, "INVALID_REQUEST"),
    ({"query": "faith", "top_k": 0}, 422, "INVALID_REQUEST"),
])
async def test_client_errors_are_coded(client: httpx.AsyncClient, app_settings: Settings,
                                       payload: dict[str, Any], status: int, code: str) -> None:
    r = await client.post("/v1/query", json=payload, headers=auth(app_settings))
    assert r.status_code == status and r.json()["error"]["code"] == code


async def test_malformed_json_and_unknown_routes(client: httpx.AsyncClient,
                                                 app_settings: Settings) -> None:
    r = await client.post("/v1/query", content=b"{not json", headers={
        **auth(app_settings), "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_REQUEST"
    r = await client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = await client.get("/v1/query")
    assert r.status_code == 405 and r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_sse_stream_ends_with_the_answer(client: httpx.AsyncClient,
                                               app_settings: Settings) -> None:
    r = await client.post("/v1/query", json={"query": "What did Okafor say about faith?",
                                             "stream": True}, headers=auth(app_settings))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [block for block in r.text.split("\n\n") if block.strip()]
    kinds = [block.split("\n")[0].removeprefix("event: ") for block in events]
    assert kinds[-1] == "answer" and set(kinds[:-1]) <= {"delta"}
    final = json.loads(events[-1].split("\n", 1)[1].removeprefix("data: "))
    deltas = "".join(json.loads(b.split("\n", 1)[1].removeprefix("data: "))["text"]
                     for b in events[:-1])
    assert final["answer"].replace(" ", "") == deltas.replace(" ", "")


async def test_metrics_after_traffic(client: httpx.AsyncClient, app_settings: Settings) -> None:
    await client.post("/v1/query", json={"query": "What did Okafor say about prayer?"},
                      headers=auth(app_settings))
    text = (await client.get("/metrics")).text
    for name in ("assistant_requests_total", "assistant_request_duration_seconds",
                 "cache_hits_total", "cache_misses_total", "vector_search_duration_seconds",
                 "circuit_breaker_state", "assistant_step_duration_seconds"):
        assert name in text
    assert 'user' not in text.split("assistant_requests_total", 1)[1].split("\n")[0]


async def test_stats_and_readiness(client: httpx.AsyncClient, app_settings: Settings) -> None:
    r = await client.get("/v1/stats", headers=auth(app_settings))
    assert r.status_code == 200 and r.json()["cost"]["budget_usd"] == 5.0
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["postgres"] is True


def test_auth_off_only_in_dev(app_settings: Settings) -> None:
    from rag_core.errors import InvalidSettings

    with pytest.raises(InvalidSettings, match="only allowed in the dev profile"):
        create_app(app_settings.with_overrides(auth_enabled=False))
    create_app(app_settings.with_overrides(auth_enabled=False, profile="dev"))
