"""CORS (``RAG_CORS_ORIGINS``, ``RAG_CORS_ALLOW_CREDENTIALS``) in process on the fast lane's
parts: a preflight from the configured origin is allowed and from another is not, no CORS header
is sent without the setting, and the refusals the outer layers make (401 from the token check,
413 from the body limit, 429 from the request limits) reach a browser as themselves, with the
headers it may read. The prod profile refuses any origin with credentials."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from test_rate_limits import QUESTION, Clock, limited_app, token

from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.errors import InvalidSettings
from rag_core.parts import Parts

pytestmark = pytest.mark.anyio
APP = "https://app.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(parts: Parts, **changes: Any) -> httpx.AsyncClient:
    settings = parts.settings.with_overrides(**changes)
    app = create_app(settings, parts=replace(parts, settings=settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_preflight_from_the_configured_origin_is_allowed_and_from_another_not(
        memory_parts: Parts) -> None:
    async with client_for(memory_parts, cors_origins=APP) as client:
        ok = await client.options("/v1/query", headers={"Origin": APP, **PREFLIGHT})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == APP
        assert "POST" in ok.headers["access-control-allow-methods"]
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in ok.headers  # not asked for
        other = await client.options("/v1/query", headers={"Origin": "https://evil.example",
                                                           **PREFLIGHT})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        answer = await client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


async def test_without_the_setting_no_cors_header_is_sent(memory_parts: Parts) -> None:
    async with client_for(memory_parts) as client:
        for r in (await client.options("/v1/query", headers={"Origin": APP, **PREFLIGHT}),
                  await client.get("/healthz", headers={"Origin": APP}),
                  await client.get("/v1/stats", headers={"Origin": APP})):
            assert not [h for h in r.headers if h.startswith("access-control-")], r.headers
        assert r.status_code == 401


async def test_refusals_of_the_outer_layers_reach_the_browser_as_themselves(
        memory_parts: Parts) -> None:
    origin = {"Origin": APP}
    async with client_for(memory_parts, cors_origins=f"{APP}, https://other.example",
                          cors_allow_credentials=True) as client:
        unauthorized = await client.post("/v1/query", json=QUESTION, headers=origin)
        assert unauthorized.status_code == 401
        assert unauthorized.json()["error"]["code"] == "UNAUTHORIZED"
        assert unauthorized.headers["access-control-allow-origin"] == APP
        assert unauthorized.headers["access-control-allow-credentials"] == "true"
        exposed = unauthorized.headers["access-control-expose-headers"].lower()
        assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after",
                "x-request-id"} <= {h.strip() for h in exposed.split(",")}
        assert unauthorized.headers["x-request-id"]
        too_large = await client.post("/v1/query", content=b"x" * 100_000,
                                      headers={**origin, "Content-Type": "application/json"})
        assert too_large.status_code == 413
        assert too_large.headers["access-control-allow-origin"] == APP
    limited = limited_app(memory_parts, Clock(), rate_limit_per_minute=1, cors_origins=APP)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited),
                                 base_url="http://t") as client:
        asked = [await client.post("/v1/query", json=QUESTION, headers={**origin,
                                                                        **token("ann")})
                 for _ in range(2)]
        assert [r.status_code for r in asked] == [200, 429]
        assert asked[1].headers["access-control-allow-origin"] == APP
        assert asked[1].headers["retry-after"] and asked[1].json()["error"]["code"] == \
            "RATE_LIMITED"


def test_prod_refuses_any_origin_with_credentials_and_the_setting_reads_a_list(
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    with pytest.raises(InvalidSettings, match="RAG_CORS_ORIGINS"):
        create_app(Settings(profile="prod", jwt_secret=secret, cors_origins="*",
                            cors_allow_credentials=True))
    create_app(Settings(profile="prod", jwt_secret=secret, cors_origins="*"))  # no credentials
    create_app(Settings(profile="dev", cors_origins="*", cors_allow_credentials=True))
    monkeypatch.setenv("RAG_CORS_ORIGINS", "https://a.example/, https://b.example")
    assert Settings(profile="ci").auth.cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.delenv("RAG_CORS_ORIGINS")
    for profile in ("dev", "ci", "prod"):  # off by default in every profile
        assert Settings(profile=profile).auth.cors_origins == []
