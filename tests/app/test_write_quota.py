"""A per-user write quota on the notes API (429 WRITE_QUOTA_EXCEEDED with Retry-After, counted
in the real Redis, on a clock the test sets) whose default lets an interactive user write 60
notes a minute; and a bulk body validated in a worker thread, not on the event loop."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import httpx
import pytest

from rag_core.api import notes as notes_api
from rag_core.api.auth import issue_token
from rag_core.api.write_quota import MIN_NOTE_COST, WriteQuota
from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.parts import Parts, build_redis

pytestmark = pytest.mark.anyio
NOTE = {"title": "Quota", "body": "Short notes written one after the other in a meeting."}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def app_with_clock(settings: Settings, parts: Parts, clock: Clock) -> Any:
    app = create_app(settings, parts=replace(parts, settings=settings))
    app.state.write_quota = WriteQuota(settings.auth, build_redis(settings), clock=clock)
    return app


def headers(settings: Settings, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, user)}"}


async def test_the_default_quota_lets_a_user_write_60_notes_a_minute(memory_parts: Parts) -> None:
    settings = memory_parts.settings
    app = app_with_clock(settings, memory_parts, Clock(1_000_020.0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        for n in range(60):
            r = await client.put(f"/v1/notes/m{n}", json={**NOTE, "body": f"{NOTE['body']} {n}"},
                                 headers=headers(settings, "writer"))
            assert r.status_code == 200, r.text


@pytest.mark.integration
async def test_writes_beyond_the_quota_get_429_until_the_window_ends(
        app_settings: Settings, app_parts: Parts) -> None:
    settings = app_settings.with_overrides(write_quota_bytes=5 * MIN_NOTE_COST)
    clock = Clock(6_000_015.0)  # 15 s into a window: 45 s left
    app = app_with_clock(settings, app_parts, clock)
    auth = headers(settings, "quota-user")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        for n in range(5):
            r = await client.put(f"/v1/notes/q{n}", json=NOTE, headers=auth)
            assert r.status_code == 200, r.text
        r = await client.put("/v1/notes/q5", json=NOTE, headers=auth)
        assert r.status_code == 429 and r.json()["error"]["code"] == "WRITE_QUOTA_EXCEEDED"
        assert r.headers["retry-after"] == "45"
        r = await client.post("/v1/notes:bulk", json={"notes": [{**NOTE, "id": "b1"}]},
                              headers=auth)
        assert r.status_code == 429
        other = await client.put("/v1/notes/q0", json=NOTE,
                                 headers=headers(settings, "someone-else"))
        assert other.status_code == 200  # per user
        clock.now += 45  # the next window
        r = await client.put("/v1/notes/q5", json=NOTE, headers=auth)
        assert r.status_code == 200, r.text


async def test_a_bulk_body_is_validated_off_the_event_loop(memory_parts: Parts,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    real = notes_api.parse_bulk

    def spy(raw: bytes) -> Any:
        seen.append(threading.current_thread() is threading.main_thread())
        return real(raw)

    monkeypatch.setattr(notes_api, "parse_bulk", spy)
    settings = memory_parts.settings
    app = create_app(settings, parts=memory_parts)
    body = {"notes": [{**NOTE, "id": f"b{n}"} for n in range(200)]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        r = await client.post("/v1/notes:bulk", json=body, headers=headers(settings, "bulk"))
        assert r.status_code == 200 and len(r.json()["results"]) == 200
        bad = {"notes": [{**NOTE, "id": "x"}, {"title": "no body", "id": "y"}]}
        r = await client.post("/v1/notes:bulk", json=bad, headers=headers(settings, "bulk"))
        assert r.status_code == 422 and r.json()["error"]["code"] == "INVALID_REQUEST"
    assert seen == [False, False]  # the test's loop runs in the main thread
