"""Revisions and the trash over HTTP, on the real PostgreSQL and Redis: ``GET
/v1/notes/{id}/revisions`` and ``POST /v1/notes/{id}:restore`` on the user's routes and on the
service-token routes alike, a restore counted against the write quota (on a clock the test
sets), a bulk prune beyond its bound refused with nothing written, and the routes in OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.ingest.ingestion import ingest_notes
from rag_core.limits.write_quota import MIN_NOTE_COST
from rag_core.parts import build_limiters, build_redis
from rag_core.types import Note

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
SECRET = "note-history-test-secret-5d1c0e9a8b7f6e5d4c3b2a1908f7e6d5c4b3a291"
TEXTS = ["The youth group meets on Fridays in the crypt.",
         "The youth group now meets on Thursdays in the hall.",
         "The youth group moved to Sunday evenings after the service."]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(live_parts: Any) -> AsyncIterator[httpx.AsyncClient]:
    # three notes' worth of bytes per window: the third write of a window is the last
    settings = live_parts.settings.with_overrides(jwt_secret=SECRET,
                                                  write_quota_bytes=3 * MIN_NOTE_COST)
    limiters = build_limiters(settings, build_redis(settings), live_parts.limiters.user_limits,
                              clock=lambda: 1_000_000.0)
    app = create_app(settings, parts=replace(live_parts, settings=settings, limiters=limiters))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as c:
        yield c


def auth(user: str = "amara", scope: str | None = None) -> dict[str, str]:
    if scope is None:
        token = issue_token(Settings(jwt_secret=SECRET), user)
    else:
        import time

        import jwt

        now = int(time.time())
        token = jwt.encode({"sub": user, "iat": now, "exp": now + 600, "scope": scope},
                           SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def note(text: str) -> dict[str, str]:
    return {"title": "Youth group", "body": text}


@pytest.mark.parametrize("base, headers", [
    ("/v1", auth("amara")),
    ("/v1/users/chloe", auth("sync-service", scope="notes:write")),
], ids=["own", "service"])
async def test_revisions_listed_and_restored_within_the_write_quota(
        client: httpx.AsyncClient, base: str, headers: dict[str, str]) -> None:
    for text in TEXTS[:2]:
        r = await client.put(f"{base}/notes/youth", json=note(text), headers=headers)
        assert r.status_code == 200, r.text
    r = await client.get(f"{base}/notes/youth/revisions", headers=headers)
    assert r.status_code == 200, r.text
    revisions = r.json()["revisions"]
    assert len(revisions) == 1 and revisions[0]["title"] == "Youth group"

    r = await client.post(f"{base}/notes/youth:restore",
                          json={"revision": revisions[0]["revision"]}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "updated" and r.json()["restored_from"] == "revision"
    r = await client.get(f"{base}/notes/youth", headers=headers)
    assert r.json()["body"] == TEXTS[0]
    r = await client.get(f"{base}/notes/youth/revisions", headers=headers)
    assert len(r.json()["revisions"]) == 2

    assert (await client.delete(f"{base}/notes/youth", headers=headers)).status_code == 200
    assert (await client.get(f"{base}/notes/youth", headers=headers)).status_code == 404
    r = await client.post(f"{base}/notes/youth:restore", headers=headers)  # a 4th write
    assert r.status_code == 429 and r.json()["error"]["code"] == "WRITE_QUOTA_EXCEEDED"
    assert (await client.get(f"{base}/notes/youth", headers=headers)).status_code == 404


async def test_a_restore_from_the_trash_and_what_is_not_there(client: httpx.AsyncClient) -> None:
    headers = auth("ben")
    await client.put("/v1/notes/rota", json=note(TEXTS[2]), headers=headers)
    await client.delete("/v1/notes/rota", headers=headers)
    r = await client.post("/v1/notes/rota:restore", headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["restored_from"]) == ("inserted", "trash")
    assert (await client.get("/v1/notes/rota", headers=headers)).json()["body"] == TEXTS[2]
    r = await client.post("/v1/notes/rota:restore", headers=headers)  # no longer in the trash
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = await client.post("/v1/notes/rota:restore", json={"revision": 0}, headers=headers)
    assert r.status_code == 422
    r = await client.get("/v1/notes/rota/revisions", headers=auth("dana"))  # not theirs
    assert r.status_code == 404
    r = await client.get("/v1/users/ben/notes/rota/revisions", headers=auth("dana"))
    assert r.status_code == 403  # a user's token does not reach another user's notes


async def test_a_bulk_prune_beyond_its_bound_writes_nothing(client: httpx.AsyncClient,
                                                            live_parts: Any) -> None:
    headers = auth("erin", scope="notes:write")
    notes = [{"id": f"n{i}", **note(f"Rota line {i} for the tea urn.")} for i in range(3)]
    ingest_notes(live_parts, "erin", [Note(id=n["id"], title=n["title"], body=n["body"])
                                      for n in notes], progress=False)
    version = live_parts.store.notes_version("erin")
    body = {"notes": notes[:1], "prune": True, "max_delete": 1}
    for _ in range(3):  # refused, and refunded: three of them leave the quota whole
        r = await client.post("/v1/users/erin/notes:bulk", json=body, headers=headers)
        assert r.status_code == 400 and r.json()["error"]["code"] == "CONFIRMATION_REQUIRED"
        assert "n1" in r.json()["error"]["message"] and "n2" in r.json()["error"]["message"]
    assert live_parts.store.notes_version("erin") == version
    r = await client.post("/v1/users/erin/notes:bulk", json={**body, "yes": True},
                          headers=headers)
    assert r.status_code == 200, r.text
    assert sorted(t.note_id for t in live_parts.store.history.trash_list("erin")) == ["n1", "n2"]


async def test_the_routes_are_in_openapi(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for base in ("/v1", "/v1/users/{user_id}"):
        assert "get" in paths[f"{base}/notes/{{note_id}}/revisions"]
        assert "post" in paths[f"{base}/notes/{{note_id}}:restore"]
