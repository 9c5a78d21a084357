"""A slow identity provider does not stall valid users: with the JWKS endpoint (a real HTTP
server) hanging, a token whose key is cached is served at once, tokens that need keys get 503
AUTH_UNAVAILABLE at once instead of queueing behind the fetch in flight, only one fetch runs,
and a failed fetch is remembered for the cooldown. Waits are on conditions (the server counts
arrivals), and the cooldown runs on a clock the test sets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace

import anyio
import httpx
import pytest
from jwks_server import JWKSServer, Key

from rag_core.api.auth import verifier_for
from rag_core.app import create_app
from rag_core.parts import Parts

pytestmark = pytest.mark.anyio
ISS, AUD = "https://gateway.example", "rag-core"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def jwks() -> Iterator[tuple[JWKSServer, Key]]:
    key = Key.new("gateway-1")
    server = JWKSServer([key]).start()
    yield server, key
    server.stop()


async def test_a_hanging_identity_provider_does_not_stall_valid_users(
        memory_parts: Parts, jwks: tuple[JWKSServer, Key]) -> None:
    server, key = jwks
    settings = memory_parts.settings.with_overrides(
        jwt_algorithm="RS256", jwt_jwks_url=server.url, jwt_issuer=ISS, jwt_audience=AUD,
    )
    app = create_app(settings, parts=replace(memory_parts, settings=settings))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                               timeout=120)
    good = {"Authorization": f"Bearer {key.sign(iss=ISS, aud=AUD)}"}

    def forged(n: int) -> dict[str, str]:
        token = Key(f"made-up-{n}", "RS256", key.private).sign(iss=ISS, aud=AUD)
        return {"Authorization": f"Bearer {token}"}

    assert (await client.get("/v1/stats", headers=good)).status_code == 200  # key now cached
    assert server.started == 1
    clock = Clock()
    keys = getattr(verifier_for(settings.auth), "jwks", None)
    if keys is not None:
        keys.clock = clock
    clock.now += 31  # past the refetch cooldown: an unknown kid may fetch again

    server.hang()
    first = asyncio.ensure_future(client.get("/v1/stats", headers=forged(0)))
    assert await anyio.to_thread.run_sync(server.wait_started, 2)  # that fetch is in flight
    while_held = await asyncio.gather(*(client.get("/v1/stats", headers=forged(n))
                                        for n in range(1, 21)))
    assert {r.status_code for r in while_held} == {503}
    assert {r.json()["error"]["code"] for r in while_held} == {"AUTH_UNAVAILABLE"}
    assert all(int(r.headers["retry-after"]) >= 1 for r in while_held)
    assert (await client.get("/v1/stats", headers=good)).status_code == 200
    assert server.started == 2  # one fetch at a time; nobody queued behind it
    assert not first.done()

    server.release()  # ... and the provider fails
    r = await first
    assert r.status_code == 503 and r.json()["error"]["code"] == "AUTH_UNAVAILABLE"

    r = await client.get("/v1/stats", headers=forged(99))  # inside the cooldown: no new fetch
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 20
    assert server.started == 2
    assert (await client.get("/v1/stats", headers=good)).status_code == 200

    clock.now += 31  # the cooldown is over: one new fetch, and the made-up key is unknown
    r = await client.get("/v1/stats", headers=forged(100))
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    assert server.started == 3
    await client.aclose()
