"""One note-id rule for the HTTP path, bulk uploads and the list cursor, on the real PostgreSQL
and Redis: an id that could not be stored, told apart or reached again is refused with a code,
never a 500, and bulk never deletes every note by accident."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
NOTE = {"title": "Ids", "body": "A short note about the names of things."}
BAD_IDS = ["line\nbreak", "tab\there", "right\u202eleft", "zero\u200bwidth", "ｆｕｌｌ",
           "a/b", "bell\x07", "nul\x00"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def client(app_settings: Settings, app_parts: Any) -> httpx.AsyncClient:
    app = create_app(app_settings, parts=app_parts)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def auth(app_settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(app_settings, 'ids-user')}"}


def coded(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


async def test_a_nul_in_a_path_id_or_cursor_is_a_coded_error(client: httpx.AsyncClient,
                                                             auth: dict[str, str]) -> None:
    coded(await client.delete("/v1/notes/a%00b", headers=auth), 422, "INVALID_NOTE")
    coded(await client.put("/v1/notes/a%00b", json=NOTE, headers=auth), 422, "INVALID_NOTE")
    coded(await client.get("/v1/notes?cursor=AA", headers=auth), 422, "INVALID_NOTE")
    nul = base64.urlsafe_b64encode(b"x\x00y").decode().rstrip("=")
    coded(await client.get(f"/v1/notes?cursor={nul}", headers=auth), 422, "INVALID_NOTE")


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_bulk_and_path_refuse_ids_that_cannot_be_told_apart_or_reached(
        client: httpx.AsyncClient, auth: dict[str, str], bad: str) -> None:
    r = await client.post("/v1/notes:bulk", json={"notes": [{**NOTE, "id": bad}]}, headers=auth)
    coded(r, 422, "INVALID_NOTE")
    quoted = "".join(c if c.isascii() and c.isalnum() else
                     "".join(f"%{b:02X}" for b in c.encode()) for c in bad)
    if "/" not in bad:
        coded(await client.put(f"/v1/notes/{quoted}", json=NOTE, headers=auth), 422,
              "INVALID_NOTE")
    r = await client.get("/v1/notes", headers=auth)
    assert r.status_code == 200 and r.json()["notes"] == []


async def test_invalid_utf8_in_the_path_is_refused_not_replaced(client: httpx.AsyncClient,
                                                               auth: dict[str, str]) -> None:
    coded(await client.put("/v1/notes/caf%E9", json=NOTE, headers=auth), 422, "INVALID_NOTE")
    coded(await client.put("/v1/notes/x%FFy", json=NOTE, headers=auth), 422, "INVALID_NOTE")
    r = await client.put("/v1/notes/caf%C3%A9", json=NOTE, headers=auth)  # valid UTF-8: fine
    assert r.status_code == 200 and r.json()["note_id"] == "café"
    assert (await client.delete("/v1/notes/caf%C3%A9", headers=auth)).status_code == 200


async def test_bulk_prune_with_no_notes_needs_an_explicit_confirmation(
        client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    r = await client.put("/v1/notes/keep-me", json=NOTE, headers=auth)
    assert r.status_code == 200
    r = await client.post("/v1/notes:bulk", json={"notes": [], "prune": True}, headers=auth)
    coded(r, 422, "INVALID_NOTE")
    listed = (await client.get("/v1/notes", headers=auth)).json()["notes"]
    assert [n["note_id"] for n in listed] == ["keep-me"]
    r = await client.post("/v1/notes:bulk", json={"notes": [], "prune": True,
                                                  "confirm_prune_all": True}, headers=auth)
    assert r.status_code == 200 and r.json()["results"] == [
        {"note_id": "keep-me", "status": "deleted"}]
