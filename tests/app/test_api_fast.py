"""The API in process (httpx.ASGITransport) on the fast lane's parts: the notes routes, body
limits, the caller-only stats, metrics access and error counting. The same behaviour through
real uvicorn on PostgreSQL and Redis is in test_uvicorn.py."""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import jwt
import pytest

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings, fixed
from rag_core.costs import reporting
from rag_core.parts import Parts
from rag_core.telemetry import metrics

pytestmark = pytest.mark.anyio
SECRET = "fast-api-test-secret-258d535c6d2c6ed4715b74e8941b9469e3408ae540bea398"
NOTE = {"title": "Walls and Gates", "body": "Nehemiah rebuilt the wall of Jerusalem in 52 "
        "days, with a sword in one hand and a trowel in the other.", "date": "2024-05-05",
        "speaker": "Pastor Okafor", "tags": ["rebuilding"], "scripture": "Nehemiah 4:17"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app_settings(memory_parts: Parts) -> Settings:
    # the hash embedder's cosines are lower than a real model's
    return memory_parts.settings.with_overrides(jwt_secret=SECRET, similarity_threshold=0.1)


@pytest.fixture
def client(app_settings: Settings, memory_parts: Parts) -> httpx.AsyncClient:
    from dataclasses import replace

    app = create_app(app_settings, parts=replace(memory_parts, settings=app_settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def auth(user: str = "amara", **claims: Any) -> dict[str, str]:
    if claims:
        now = int(time.time())
        token = jwt.encode({"sub": user, "iat": now, "exp": now + 600, **claims}, SECRET,
                           algorithm="HS256")
    else:
        token = issue_token(Settings(jwt_secret=SECRET), user)
    return {"Authorization": f"Bearer {token}"}


def errors_of(code: str) -> float:
    return metrics.ERRORS.labels(type=code)._value.get()


async def test_notes_crud_and_versions(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/notes/wall-1", json=NOTE, headers=auth())
    assert r.status_code == 200 and r.json()["status"] == "inserted"
    version = r.json()["notes_version"]
    r = await client.put("/v1/notes/wall-1", json=NOTE, headers=auth())
    assert r.json() == {"note_id": "wall-1", "status": "unchanged", "notes_version": version}
    r = await client.put("/v1/notes/wall-1", json={**NOTE, "body": NOTE["body"] + " Again."},
                         headers=auth())
    assert r.json()["status"] == "updated" and r.json()["notes_version"] == version + 1
    r = await client.get("/v1/notes", headers=auth())
    assert [n["note_id"] for n in r.json()["notes"]] == ["wall-1"]
    assert set(r.json()["notes"][0]) == {"note_id", "title", "content_hash", "updated_at"}
    r = await client.delete("/v1/notes/wall-1", headers=auth())
    assert r.json()["status"] == "deleted"
    r = await client.delete("/v1/notes/wall-1", headers=auth())
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


async def test_notes_are_the_callers_own(client: httpx.AsyncClient) -> None:
    await client.put("/v1/notes/mine", json=NOTE, headers=auth("amara"))
    r = await client.get("/v1/notes", headers=auth("ben"))
    assert r.json()["notes"] == []
    r = await client.delete("/v1/notes/mine", headers=auth("ben"))
    assert r.status_code == 404
    r = await client.put("/v1/users/amara/notes/x", json=NOTE, headers=auth("ben"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"


async def test_a_service_token_acts_for_any_user(client: httpx.AsyncClient) -> None:
    import logging

    class Keep(logging.Handler):
        records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    keep = Keep()
    audit = logging.getLogger("rag_core.audit")
    audit.addHandler(keep)
    audit.setLevel(logging.INFO)  # as setup_logging leaves it in the served app
    service = auth("sync-service", scope="notes:write")
    r = await client.put("/v1/users/chloe/notes/n1", json=NOTE, headers=service)
    assert r.status_code == 200 and r.json()["status"] == "inserted"
    r = await client.get("/v1/notes", headers=auth("chloe"))
    assert [n["note_id"] for n in r.json()["notes"]] == ["n1"]
    audit.removeHandler(keep)
    audit.setLevel(logging.NOTSET)
    fields = getattr(keep.records[-1], "fields", {})
    assert fields["service"] == "sync-service" and fields["user_id"] == "chloe"
    assert fields["method"] == "PUT"


async def test_listing_pages_with_a_cursor(client: httpx.AsyncClient) -> None:
    notes = [{"id": f"n{i:02d}", **NOTE, "body": f"{NOTE['body']} ({i})"} for i in range(7)]
    r = await client.post("/v1/notes:bulk", json={"notes": notes}, headers=auth())
    assert r.status_code == 200
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/notes", params=params, headers=auth())).json()
        seen += [n["note_id"] for n in page["notes"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [n["id"] for n in notes]
    r = await client.get("/v1/notes", params={"cursor": "%%%"}, headers=auth())
    assert r.status_code == 422


async def test_bulk_is_validated_whole_before_anything_is_written(
        client: httpx.AsyncClient) -> None:
    bad = [{"id": "ok", **NOTE}, {"id": "no-title", **NOTE, "title": ""},
           {"id": "ok", **NOTE}, {"id": "nul", **NOTE, "body": ""}]
    r = await client.post("/v1/notes:bulk", json={"notes": bad}, headers=auth())
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_NOTE"
    message = r.json()["error"]["message"]
    assert "no-title" in message and "'ok'" in message and "nul" in message
    assert (await client.get("/v1/notes", headers=auth())).json()["notes"] == []
    good = [{"id": "a", **NOTE}, {"id": "b", **NOTE, "title": "Other"}]
    r = await client.post("/v1/notes:bulk", json={"notes": good}, headers=auth())
    assert r.json()["results"] == [{"note_id": "a", "status": "inserted"},
                                   {"note_id": "b", "status": "inserted"}]
    r = await client.post("/v1/notes:bulk", json={"notes": good[:1], "prune": True},
                          headers=auth())
    assert r.json()["results"] == [{"note_id": "a", "status": "unchanged"},
                                   {"note_id": "b", "status": "deleted"}]


async def test_a_note_edit_invalidates_that_users_answers_only(
        client: httpx.AsyncClient) -> None:
    question = {"query": "How long did the rebuilding of the wall take?"}
    await client.put("/v1/notes/wall", json=NOTE, headers=auth("amara"))
    await client.put("/v1/notes/wall", json=NOTE, headers=auth("ben"))
    first = (await client.post("/v1/query", json=question, headers=auth("amara"))).json()
    await client.post("/v1/query", json=question, headers=auth("ben"))
    assert "52" in first["answer"]
    edited = {**NOTE, "body": NOTE["body"].replace("52", "fifty-two")}
    await client.put("/v1/notes/wall", json=edited, headers=auth("amara"))
    after = (await client.post("/v1/query", json=question, headers=auth("amara"))).json()
    assert after["cache"]["query"] == "miss" and "fifty-two" in after["answer"]
    other = (await client.post("/v1/query", json=question, headers=auth("ben"))).json()
    assert other["cache"]["query"] == "hit"


async def test_an_answer_says_why_in_cache_reason(client: httpx.AsyncClient) -> None:
    await client.put("/v1/notes/wall", json=NOTE, headers=auth())
    question = {"query": "How long did the rebuilding of the wall take?"}
    first = (await client.post("/v1/query", json=question, headers=auth())).json()
    assert first["cache"]["query"] == "miss" and first["cache"]["semantic"] == "miss"
    assert first["cache"]["reason"].split(":")[0] in ("no_candidate", "miss")
    again = (await client.post("/v1/query", json=question, headers=auth())).json()
    assert again["cache"]["query"] == "hit" and again["cache"]["reason"].startswith("exact_hit")
    other = {"query": "How long did the rebuilding of the wall take in 1990?"}
    refused = (await client.post("/v1/query", json=other, headers=auth())).json()
    assert refused["cache"]["semantic"] == "miss"
    assert refused["cache"]["reason"].startswith("semantic_refused")


async def test_bodies_over_the_limit_are_refused_before_auth(
        client: httpx.AsyncClient, app_settings: Settings) -> None:
    big = b'{"query": "' + b"x" * (fixed.MAX_BODY_BYTES + 10) + b'"}'
    r = await client.post("/v1/query", content=big,
                          headers={"Content-Type": "application/json"})  # no token at all
    assert r.status_code == 413 and r.json()["error"]["code"] == "TOO_LARGE"
    assert r.json()["error"]["request_id"] == r.headers["x-request-id"]

    async def chunks() -> Any:  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b"x" * 1024

    r = await client.post("/v1/query", content=chunks(), headers=auth())
    assert r.status_code == 413
    note = {**NOTE, "body": "y" * (fixed.MAX_BODY_BYTES * 2)}
    r = await client.put("/v1/notes/big", json=note, headers=auth())
    assert r.status_code == 200  # a note may be larger than a question


async def test_stats_show_the_callers_figures_only(client: httpx.AsyncClient) -> None:
    await client.put("/v1/notes/n", json=NOTE, headers=auth("amara"))
    r = await client.get("/v1/stats", headers=auth("amara"))
    body = r.json()
    assert set(body) == {"user_id", "notes", "cost", "cache", "limits", "history"}
    assert body["notes"]["count"] == 1
    assert body["history"] == {}  # no PostgreSQL in the fast lane: nothing recorded to read
    assert set(body["cache"]) == {"query", "stale", "semantic", "embedding", "context"}
    assert body["cache"]["query"]["entries"] == 0  # the caller's own entries only
    assert (await client.get("/v1/stats", headers=auth("ben"))).json()["notes"]["count"] == 0


async def test_every_error_served_is_counted_once(client: httpx.AsyncClient) -> None:
    """assistant_errors_total was counted by the pipeline and again by the app."""
    before = errors_of("INVALID_QUERY")
    r = await client.post("/v1/query", json={"query": " "}, headers=auth())
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_QUERY"
    assert errors_of("INVALID_QUERY") - before == 1
    before = errors_of("UNAUTHORIZED")
    await client.post("/v1/query", json={"query": "faith"})
    assert errors_of("UNAUTHORIZED") - before == 1


async def test_requests_turned_away_before_the_pipeline_count_in_the_day(
        client: httpx.AsyncClient, memory_parts: Parts, app_settings: Settings) -> None:
    """A request the API refused before the pipeline counts in the costs report, by its code:
    in its user's row once the token was verified, else in the total of callers not known. The
    pipeline's own failures stay its outcome ``error`` (counted once)."""
    for headers in ({}, {"Authorization": "Bearer abc.def.ghi"}, auth("cleo", exp=1)):
        r = await client.post("/v1/query", json={"query": "faith"}, headers=headers)
        assert r.status_code == 401
    big = b'{"query": "' + b"x" * (fixed.MAX_BODY_BYTES + 10) + b'"}'
    r = await client.post("/v1/query", content=big, headers={
        "Content-Type": "application/json", **auth("cleo")})  # refused before the token is read
    assert r.status_code == 413
    r = await client.post("/v1/query", json={"query": "faith", "top_k": "many"},
                          headers=auth("cleo"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_REQUEST"
    r = await client.post("/v1/query", json={"query": " "}, headers=auth("cleo"))
    assert r.json()["error"]["code"] == "INVALID_QUERY"  # the pipeline's: its outcome error
    assert (await client.post("/v1/query", json={"query": "faith"},
                              headers=auth("cleo"))).status_code == 200
    assert (await client.get("/v1/stats")).status_code == 401  # asks for no work: not counted
    report = reporting.report(memory_parts.ledger)
    assert report["rejected"] == {"INVALID_REQUEST": 1, "TOO_LARGE": 1, "UNAUTHORIZED": 3}
    assert report["rejected_requests"] == 5 and report["rejected_unknown_caller"] == 4
    assert report["users"] == 1 and report["requests"] == 2
    row = report["top"][0]
    assert row["user_id"] == "cleo" and row["rejected"] == {"INVALID_REQUEST": 1}
    assert row["requests"] == 2 and row["outcomes"]["error"] == 1


@pytest.mark.parametrize("profile,token,status", [
    ("ci", None, 200), ("prod", None, 403), ("prod", "m-token", 401), ("ci", "m-token", 401)])
async def test_metrics_access(memory_parts: Parts, profile: str, token: str | None,
                              status: int) -> None:
    from dataclasses import replace

    settings = memory_parts.settings.with_overrides(profile=profile, metrics_token=token,
                                                    jwt_secret=SECRET)
    app = create_app(settings, parts=replace(memory_parts, settings=settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        assert (await client.get("/metrics")).status_code == status
        if token:
            r = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and "assistant_requests_total" in r.text


async def test_an_answer_carries_the_documented_fields_as_json_and_as_an_event(
        client: httpx.AsyncClient) -> None:
    from rag_core.api.schemas import AnswerOut

    await client.put("/v1/notes/wall", json=NOTE, headers=auth())
    question = "How long did the rebuilding of the wall take?"
    plain = await client.post("/v1/query", json={"query": question}, headers=auth())
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    body = plain.json()
    # no internal field leaks; `degraded` and its reason only on a degraded answer
    # (tests/app/test_api_degraded.py); the conversation's fields only in a conversation
    # (tests/app/test_conversations_api.py)
    assert set(body) == set(AnswerOut.model_fields) - {
        "degraded", "degraded_reason", "conversation_id", "standalone_question",
        "conversation_saved"}
    assert body["model"] == "extractive" and body["generator"] == "extractive"
    assert body["decisions"] is None  # only when asked for (debug, or the dev profile)
    assert AnswerOut.model_validate(body).model_dump(mode="json", exclude_unset=True) == body
    streamed = await client.post("/v1/query", json={"query": question, "stream": True},
                                 headers=auth())
    data = streamed.text.split("event: answer\ndata: ", 1)[1].split("\n", 1)[0]
    event = AnswerOut.model_validate_json(data).model_dump(mode="json", exclude_unset=True)
    assert set(event) == set(body) and event["answer"] == body["answer"]


async def test_the_query_route_reads_what_it_declares_as_fastapi_would(
        client: httpx.AsyncClient) -> None:
    """``query_route.QueryRoute``: one handler for every call, which reads the body, the
    caller and the pipeline itself. A body it refuses gets the status and the error that
    FastAPI's own resolution gives the same declared body (a scratch route beside it, with the
    app's error handlers); the charset, a stream and the OpenAPI document are as declared."""
    import json

    from fastapi import Body, FastAPI

    from rag_core.api import errors, query_route
    from rag_core.api.schemas import QueryIn

    scratch = FastAPI()
    errors.install(scratch)

    async def declared(body: QueryIn) -> dict[str, str]:
        return {}

    declared.__annotations__ = {"body": Annotated[QueryIn, Body()], "return": dict[str, str]}
    scratch.post("/v1/query")(declared)

    reference = httpx.AsyncClient(transport=httpx.ASGITransport(app=scratch),
                                  base_url="http://scratch")

    async def both(content: bytes, kind: str = "application/json"
                   ) -> tuple[httpx.Response, httpx.Response]:
        headers = {**auth(), "Content-Type": kind}
        return (await client.post("/v1/query", content=content, headers=headers),
                await reference.post("/v1/query", content=content, headers=headers))

    await client.put("/v1/notes/wall", json=NOTE, headers=auth())
    question = {"query": "How long did the rebuilding of the wall take?", "debug": True}
    first, _ = await both(json.dumps(question).encode())
    again, _ = await both(json.dumps(question).encode(), "application/json; charset=utf-8")
    assert again.json()["cache"]["query"] == "hit" and again.json()["decisions"]
    assert again.json()["answer"] == first.json()["answer"]
    refusals = [json.dumps(bad).encode() for bad in (
        {"query": "faith", "top_k": 0}, {"top_k": 3}, ["faith"], {"query": 7}, None)]
    for content, kind in [*((r, "application/json") for r in refusals),
                          (b"", "application/json"), (b"{not json", "application/json"),
                          (b"faith", "text/plain")]:
        ours, theirs = await both(content, kind)
        assert ours.status_code == theirs.status_code and ours.status_code in (400, 422)
        assert ({k: v for k, v in ours.json()["error"].items() if k != "request_id"}
                == {k: v for k, v in theirs.json()["error"].items() if k != "request_id"})
    await reference.aclose()
    streamed = await client.post("/v1/query", json={**question, "stream": True}, headers=auth())
    assert streamed.headers["content-type"].startswith("text/event-stream")
    route = next(r for r in query_route.router.routes if getattr(r, "path", "") == "/v1/query")
    assert isinstance(route, query_route.QueryRoute)
    spec = (await client.get("/openapi.json")).json()["paths"]["/v1/query"]["post"]
    assert spec["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/QueryIn")
    assert spec["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AnswerOut")
    assert spec["security"] == [{"bearer": []}]
