"""A question's own cache controls (``"cache": {"no_cache", "no_store", "max_age_s"}`` on
``POST /v1/query``), through the app (ASGITransport) on the real pipeline, PostgreSQL and
Redis. The generator counts its calls, so that a test can say whether the model was asked. Each
test asks as a user of its own (a copy of amara's notes): no other test's cached answer is
met."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.telemetry.metrics import CACHE_CONTROLS

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
NOTES = Path(__file__).resolve().parents[2] / "golden" / "notes" / "amara"
QUESTION = "What story did Pastor Miriam Okafor tell about her grandmother?"


class Counting:
    """The service's generator, counting the calls the pipeline makes to it."""

    def __init__(self, inner: Any) -> None:
        self.inner_generator = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner_generator, name)

    def generate(self, prompt: Any) -> Any:
        self.calls += 1
        return self.inner_generator.generate(prompt)

    def stream(self, prompt: Any) -> Any:
        self.calls += 1
        return self.inner_generator.stream(prompt)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def counted(app_parts: Any) -> Iterator[Any]:
    yield replace(app_parts, generator=Counting(app_parts.generator))


@pytest.fixture
def user(app_parts: Any) -> str:
    from rag_core.ingest.ingestion import ingest_path

    name = f"cc-{uuid.uuid4().hex[:10]}"
    ingest_path(app_parts, name, NOTES, progress=False)
    return name


def client_of(settings: Settings, parts: Any) -> httpx.AsyncClient:
    app = create_app(settings, parts=replace(parts, settings=settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def client(app_settings: Settings, counted: Any) -> httpx.AsyncClient:
    return client_of(app_settings, counted)


def token(settings: Settings, user: str, scope: str = "") -> dict[str, str]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user, "iat": now, "exp": now + 600}
    if scope:
        claims["scope"] = scope
    secret = settings.auth.jwt_secret
    assert secret is not None
    return {"Authorization": "Bearer " + jwt.encode(claims, secret.get_secret_value(),
                                                    algorithm="HS256")}


async def ask(client: httpx.AsyncClient, settings: Settings, user: str,
              **extra: Any) -> httpx.Response:
    return await client.post("/v1/query", json={"query": QUESTION, **extra},
                             headers=token(settings, user))


def controls_counted(name: str) -> float:
    return CACHE_CONTROLS.labels(control=name)._value.get()


async def test_no_cache_reads_no_layer_and_still_keeps_the_answer(
        client: httpx.AsyncClient, app_settings: Settings, counted: Any, user: str) -> None:
    first = (await ask(client, app_settings, user)).json()
    assert first["cache"]["query"] == "miss" and "no_cache" not in first["cache"]
    calls = counted.generator.calls
    before = controls_counted("no_cache")
    cold = (await ask(client, app_settings, user, cache={"no_cache": True})).json()
    assert counted.generator.calls == calls + 1  # the model asked again
    assert {cold["cache"][k] for k in ("query", "embedding", "context")} == {"miss"}
    assert cold["cache"]["no_cache"] is True and cold["cache"]["no_store"] is False
    assert cold["cache"]["max_age_s"] is None
    assert controls_counted("no_cache") - before == 1
    warm = (await ask(client, app_settings, user)).json()
    assert warm["cache"]["query"] == "hit" and counted.generator.calls == calls + 1


async def test_no_store_writes_nothing_then_a_plain_ask_misses(
        client: httpx.AsyncClient, app_settings: Settings, counted: Any, user: str) -> None:
    kept = (await ask(client, app_settings, user, cache={"no_store": True})).json()
    assert kept["cache"]["no_store"] is True and kept["cache"]["query"] == "miss"
    again = (await ask(client, app_settings, user)).json()
    assert again["cache"]["query"] == "miss"  # nothing was kept
    assert again["cache"]["embedding"] == "miss" and again["cache"]["context"] == "miss"
    assert (await ask(client, app_settings, user)).json()["cache"]["query"] == "hit"


async def test_max_age_serves_only_a_younger_answer(
        client: httpx.AsyncClient, app_settings: Settings, counted: Any, user: str) -> None:
    await ask(client, app_settings, user)
    young = (await ask(client, app_settings, user, cache={"max_age_s": 3600})).json()
    assert young["cache"]["query"] == "hit" and young["cache"]["max_age_s"] == 3600
    calls = counted.generator.calls
    too_old = (await ask(client, app_settings, user, cache={"max_age_s": 0})).json()
    assert too_old["cache"]["query"] == "miss" and counted.generator.calls == calls + 1


async def test_the_stream_takes_and_echoes_the_controls(
        client: httpx.AsyncClient, app_settings: Settings, counted: Any, user: str) -> None:
    await ask(client, app_settings, user)
    r = await ask(client, app_settings, user, stream=True, cache={"no_cache": True})
    assert r.status_code == 200
    data = r.text.split("event: answer\ndata: ", 1)[1].split("\n", 1)[0]
    answer = json.loads(data)
    assert answer["cache"]["no_cache"] is True and answer["cache"]["query"] == "miss"


@pytest.mark.parametrize(("block", "field"), [
    ({"no_cache": True, "ttl": 5}, "cache.ttl"),
    ({"max_age_s": -1}, "cache.max_age_s"),
    ({"no_store": "sometimes"}, "cache.no_store"),
])
async def test_a_bad_cache_block_is_422_naming_the_field(
        client: httpx.AsyncClient, app_settings: Settings, block: dict[str, Any],
        field: str) -> None:
    r = await ask(client, app_settings, "cc-refused", cache=block)
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_REQUEST"
    assert r.json()["error"]["message"].startswith(field)


async def test_the_server_may_let_only_a_scope_send_controls(
        app_settings: Settings, counted: Any, user: str) -> None:
    scoped = app_settings.with_overrides(cache_controls_scope="cache:control")
    client = client_of(scoped, counted)
    r = await ask(client, scoped, user, cache={"no_cache": True})
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    assert "cache:control" in r.json()["error"]["message"]
    plain = await ask(client, scoped, user, cache={"no_cache": False})
    assert plain.status_code == 200  # asks for nothing: always let through
    r = await client.post("/v1/query", json={"query": QUESTION, "cache": {"no_cache": True}},
                          headers=token(scoped, user, scope="cache:control"))
    assert r.status_code == 200 and r.json()["cache"]["no_cache"] is True
    closed = app_settings.with_overrides(cache_controls_scope="none")
    r = await ask(client_of(closed, counted), closed, user, cache={"max_age_s": 5})
    assert r.status_code == 403 and "max_age_s" in r.json()["error"]["message"]


async def test_the_openapi_document_shows_the_controls(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    schema = doc["components"]["schemas"]["CacheControlIn"]
    assert set(schema["properties"]) == {"no_cache", "no_store", "max_age_s"}
    assert schema.get("additionalProperties") is False
    assert "403" in doc["paths"]["/v1/query"]["post"]["responses"]
