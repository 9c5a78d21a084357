"""``DELETE /v1/users/{user_id}``: the user's own token erases itself, a service needs the
``users:erase`` scope, an unknown user is a 404 that touches nothing, and the audit lines of the
calls never carry the erased id (the keyed hash stands for it). Real PostgreSQL and Redis."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import jwt
import pytest

from rag_core.app import create_app
from rag_core.parts import Parts

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
SECRET = "user-erase-api-test-secret-5f0c2a9e8d7b6a5f4e3d2c1b0a99887766554433"
NOTE = {"title": "Lamps", "body": "Ten bridesmaids took their lamps; five brought extra oil."}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def client(live_parts: Parts) -> httpx.AsyncClient:
    settings = live_parts.settings.with_overrides(jwt_secret=SECRET)
    app = create_app(settings, parts=replace(live_parts, settings=settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def auth(user: str, scope: str | None = None) -> dict[str, str]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user, "iat": now, "exp": now + 600}
    if scope:
        claims["scope"] = scope
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.fields.append(dict(getattr(record, "fields", {})))


@pytest.fixture
def audit_lines() -> Iterator[list[dict[str, Any]]]:
    keep = _Lines()
    audit = logging.getLogger("rag_core.audit")
    audit.addHandler(keep)
    audit.setLevel(logging.INFO)
    yield keep.fields
    audit.removeHandler(keep)
    audit.setLevel(logging.NOTSET)


async def test_a_user_erases_itself_and_the_audit_names_it_by_a_keyed_hash(
        client: httpx.AsyncClient, audit_lines: list[dict[str, Any]]) -> None:
    r = await client.put("/v1/notes/lamps", json=NOTE, headers=auth("wise-virgin.5"))
    assert r.status_code == 200, r.text
    r = await client.delete("/v1/users/wise-virgin.5", headers=auth("wise-virgin.5"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["erased"] and body["rows"]["notes"] == 1 and body["redis_keys"] >= 1
    r = await client.get("/v1/notes", headers=auth("wise-virgin.5"))
    assert r.json()["notes"] == []
    text = json.dumps(audit_lines)
    assert "wise-virgin.5" not in text and body["user_key"] in text


async def test_a_service_needs_the_scope_and_an_unknown_user_is_a_404(
        client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/notes/lamps", json=NOTE, headers=auth("foolish.5"))
    assert r.status_code == 200, r.text
    r = await client.delete("/v1/users/foolish.5", headers=auth("privacy-desk",
                                                                scope="notes:write"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    service = auth("privacy-desk", scope="users:erase")
    r = await client.delete("/v1/users/never-was.1", headers=service)
    assert r.status_code == 404 and r.json()["error"]["code"] == "USER_NOT_FOUND"
    r = await client.get("/v1/notes/lamps", headers=auth("foolish.5"))
    assert r.status_code == 200  # the refusals touched nothing
    r = await client.delete("/v1/users/foolish.5", headers=service)
    assert r.status_code == 200 and r.json()["rows"]["notes"] == 1
    r = await client.delete("/v1/users/foolish.5", headers=service)
    assert r.status_code == 404  # erased: nothing of the user is left
