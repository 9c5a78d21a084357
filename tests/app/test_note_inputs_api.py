"""The notes API's inputs and traces, in process on the fast lane's parts: field limits and
dates refused with a code naming the field before any work, a note read back as it was put,
the audit line of every call made for another user (refused ones too), and response headers
that say nothing about the deployment outside the dev profile."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import jwt
import pytest

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.parts import Parts

pytestmark = pytest.mark.anyio
SECRET = "note-inputs-test-secret-0b6a1f7d1f93e2c4a5b6c7d8e9f00112233445566778899"
NOTE = {"title": "Walls and Gates", "body": "Nehemiah rebuilt the wall of Jerusalem in 52 "
        "days, with a sword in one hand and a trowel in the other.", "date": "2024-05-05",
        "speaker": "Pastor Okafor", "series": "Nehemiah", "tags": ["rebuilding", "courage"],
        "scripture": ["Nehemiah 4:17"]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_client(parts: Parts, profile: str = "ci") -> httpx.AsyncClient:
    settings = parts.settings.with_overrides(jwt_secret=SECRET, profile=profile)
    app = create_app(settings, parts=replace(parts, settings=settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
def client(memory_parts: Parts) -> httpx.AsyncClient:
    return make_client(memory_parts)


def auth(user: str = "amara", **claims: Any) -> dict[str, str]:
    if claims:
        now = int(time.time())
        token = jwt.encode({"sub": user, "iat": now, "exp": now + 600, **claims}, SECRET,
                           algorithm="HS256")
    else:
        token = issue_token(Settings(jwt_secret=SECRET), user)
    return {"Authorization": f"Bearer {token}"}


def refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "INVALID_NOTE" and f"'{field}'" in error["message"], error


@pytest.mark.parametrize("field,value", [
    ("title", "t" * 194_000), ("speaker", "s" * 121), ("series", "r" * 121),
    ("tags", [f"tag{i}" for i in range(21)]), ("tags", ["x" * 41]),
    ("date", "2019-Se-01"), ("date", "2019-02-30"), ("speaker", "Ruth\u0085Okafor"),
    ("title", "Walls \u202esetaG"),
])
async def test_put_and_bulk_refuse_a_bad_field_naming_it_and_store_nothing(
        client: httpx.AsyncClient, memory_parts: Parts, field: str, value: object) -> None:
    user = f"limits-{uuid.uuid4().hex[:8]}"
    refused(await client.put("/v1/notes/n1", json={**NOTE, field: value},
                             headers=auth(user)), field)
    refused(await client.post("/v1/notes:bulk", json={"notes": [
        {**NOTE, "id": "ok"}, {**NOTE, "id": "n2", field: value}]}, headers=auth(user)), field)
    assert (await client.get("/v1/notes", headers=auth(user))).json()["notes"] == []
    assert memory_parts.store.notes_version(user) == 0


@pytest.mark.parametrize("note_id", [".", ".."])
async def test_dot_segment_ids_are_refused_in_bulk(client: httpx.AsyncClient,
                                                   note_id: str) -> None:
    r = await client.post("/v1/notes:bulk", json={"notes": [{**NOTE, "id": note_id}]},
                          headers=auth("dots"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_NOTE"


async def test_a_note_reads_back_as_put_takes_it_by_its_owner_only(
        client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/notes/wall-1", json={**NOTE, "tags": "rebuilding, courage",
                                                   "scripture": "Nehemiah 4:17"},
                         headers=auth("reader"))
    assert r.status_code == 200, r.text
    r = await client.get("/v1/notes/wall-1", headers=auth("reader"))
    assert r.status_code == 200, r.text
    assert r.json() == {**NOTE, "id": "wall-1"}
    again = await client.put("/v1/notes/wall-1", json=r.json(), headers=auth("reader"))
    assert again.json()["status"] == "unchanged"  # what GET gives, PUT takes as the same note
    for other in ("someone-else", "reader"):
        path = "/v1/notes/wall-1" if other != "reader" else "/v1/notes/missing"
        r = await client.get(path, headers=auth(other))
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    service = auth("sync-service", scope="notes:write")
    r = await client.get("/v1/users/reader/notes/wall-1", headers=service)
    assert r.status_code == 200 and r.json()["title"] == NOTE["title"]
    r = await client.get("/v1/users/reader/notes/wall-1", headers=auth("someone-else"))
    assert r.status_code == 403
    spec = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/v1/notes/{note_id}", "/v1/users/{user_id}/notes/{note_id}"):
        assert "get" in spec[path] and "404" in spec[path]["get"]["responses"]


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


async def test_every_call_for_another_user_leaves_one_audit_line_with_its_outcome(
        client: httpx.AsyncClient, audit_lines: list[dict[str, Any]]) -> None:
    service = auth("sync-service", scope="notes:write")
    calls = [
        (client.put("/v1/users/chloe/notes/n1", json=NOTE, headers=service), 200, "sync-service"),
        (client.put("/v1/users/chloe/notes/n1", json=NOTE, headers=auth("mallory")), 403,
         "mallory"),
        (client.delete("/v1/users/chloe/notes/n1", headers=auth("mallory")), 403, "mallory"),
        (client.get("/v1/users/chloe/notes/none", headers=service), 404, "sync-service"),
        (client.put("/v1/users/chloe/notes/n2", json=NOTE), 401, None),
    ]
    for call, status, service_name in calls:
        before = len(audit_lines)
        r = await call
        assert r.status_code == status, r.text
        assert len(audit_lines) == before + 1  # one line per attempt, after its outcome
        line = audit_lines[-1]
        assert line["status"] == status and line["user_id"] == "chloe"
        assert line["service"] == service_name
        assert line["outcome"] == ("done" if status == 200 else "refused")
    before = len(audit_lines)
    await client.get("/v1/notes", headers=auth("chloe"))  # own notes: no audit line
    assert len(audit_lines) == before


async def test_the_worker_pid_header_is_sent_in_the_dev_profile_only(
        memory_parts: Parts) -> None:
    for profile, sent in (("ci", False), ("prod", False), ("dev", True)):
        async with make_client(memory_parts, profile) as client:
            r = await client.get("/healthz")
            assert r.status_code == 200 and ("x-worker-pid" in r.headers) is sent, profile
            assert r.headers["x-request-id"]


@pytest.mark.parametrize("stored", ["2019-Se-01", "2019-02-30", "Sept 2019", "2019-"])
async def test_a_stored_date_that_is_no_date_never_fails_a_question(
        client: httpx.AsyncClient, memory_parts: Parts, stored: str) -> None:
    """A value kept before dates were checked (written in code, which skips the readers)."""
    from rag_core.ingest.ingestion import ingest_notes
    from rag_core.types import Note

    user = f"dates-{uuid.uuid4().hex[:8]}"
    ingest_notes(memory_parts, user, [Note(id="harvest", title="Harvest", date=stored,
                                           body=str(NOTE["body"]), speaker="Pastor Okafor")],
                 progress=False)
    for question in ("What did Pastor Okafor preach in September 2019?",
                     "Who rebuilt the wall in 2019?"):
        r = await client.post("/v1/query", json={"query": question}, headers=auth(user))
        assert r.status_code == 200, r.text
