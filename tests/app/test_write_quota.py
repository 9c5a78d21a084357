"""A per-user write quota on the notes API (429 WRITE_QUOTA_EXCEEDED with Retry-After, counted
in the real Redis, on a clock the test sets) in bytes and in chunks to embed, whose default lets
an interactive user write 60 notes a minute; a bulk body validated in a worker thread, not on
the event loop; and at most a few embeddings of notes at once per process."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fakes import HashEmbedder

from rag_core.api import notes as notes_api
from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.ingest import embed_slots
from rag_core.ingest.chunking import chunk_note
from rag_core.ingest.ingestion import ingest_notes
from rag_core.limits.write_quota import MIN_NOTE_COST
from rag_core.parts import Parts, build_limiters, build_redis
from rag_core.procs import wait_until
from rag_core.types import Note

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


def with_clock(settings: Settings, parts: Parts, clock: Clock) -> Parts:
    """``parts`` under ``settings``, their write quota's windows on ``clock``."""
    limiters = build_limiters(settings, build_redis(settings), parts.limiters.user_limits,
                              clock=clock)
    return replace(parts, settings=settings, limiters=limiters)


def app_with_clock(settings: Settings, parts: Parts, clock: Clock) -> Any:
    return create_app(settings, parts=with_clock(settings, parts, clock))


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


LONG = {"title": "Quota in chunks",
        "body": " ".join(f"Sentence {n} of a long note about grace, mercy and the covenant."
                         for n in range(120))}


@pytest.mark.integration
async def test_the_quota_counts_the_chunks_to_embed_and_refuses_beyond_them(
        app_settings: Settings, app_parts: Parts) -> None:
    long_note = Note(id="c0", title=LONG["title"], body=LONG["body"])
    chunks = len(chunk_note(long_note, app_parts.counter, app_settings.embedding.chunk_tokens,
                            app_settings.embedding.chunk_overlap_tokens))
    assert chunks >= 3
    settings = app_settings.with_overrides(write_quota_chunks=chunks + 1)
    clock = Clock(6_999_970.0)  # 50 s left in the window
    app = app_with_clock(settings, app_parts, clock)
    auth = headers(settings, "chunk-user")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        r = await client.put("/v1/notes/c0", json=LONG, headers=auth)
        assert r.status_code == 200, r.text
        # far under the byte quota, but as many chunks again: refused before any embedding
        r = await client.put("/v1/notes/c1", json=LONG, headers=auth)
        assert r.status_code == 429 and r.json()["error"]["code"] == "WRITE_QUOTA_EXCEEDED"
        assert "chunks" in r.json()["error"]["message"] and r.headers["retry-after"] == "50"
        assert [n["note_id"] for n in app_parts.store.list_notes("chunk-user")] == ["c0"]
        r = await client.put("/v1/notes/c0", json=LONG, headers=auth)
        assert r.status_code == 200 and r.json()["status"] == "unchanged"  # nothing to embed
        r = await client.put("/v1/notes/c2", json=NOTE, headers=auth)  # one chunk: it fits
        assert r.status_code == 200, r.text
        r = await client.put("/v1/notes/c3", json=NOTE, headers=auth)
        assert r.status_code == 429
        clock.now += 50  # the next window
        r = await client.put("/v1/notes/c1", json=LONG, headers=auth)
        assert r.status_code == 200, r.text
        # one note over the whole limit: only as the first write of a window, which it uses up
        small = app_settings.with_overrides(write_quota_chunks=chunks - 1)
        app.state.parts = with_clock(small, app.state.parts, clock)
        clock.now += 60
        r = await client.put("/v1/notes/c4", json=LONG, headers=auth)
        assert r.status_code == 200, r.text
        r = await client.put("/v1/notes/c5", json=NOTE, headers=auth)
        assert r.status_code == 429
        clock.now += 60  # a new window, but two notes: each write keeps to the limit
        r = await client.post("/v1/notes:bulk", headers=auth, json={"notes": [
            {**LONG, "id": "c6", "body": LONG["body"] + " again"}, {**NOTE, "id": "c7"}]})
        assert r.status_code == 429 and "chunks" in r.json()["error"]["message"]


class HeldEmbedder(HashEmbedder):
    """Embeds only once ``go`` is set, counting the callers embedding at once."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.lock = threading.Lock()
        self.now = self.most = 0

    def embed(self, texts: Any, *, progress: bool = False) -> Any:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            assert self.go.wait(120), "the test never let the embedders go"
            return super().embed(texts, progress=progress)
        finally:
            with self.lock:
                self.now -= 1


def test_concurrent_writes_embed_at_most_as_many_at_once_as_the_process_has_places(
        memory_parts: Parts, monkeypatch: pytest.MonkeyPatch) -> None:
    assert embed_slots.SLOTS.size == max(1, embed_slots.usable_cpus() - 1)
    slots = embed_slots.EmbeddingSlots(2)
    monkeypatch.setattr(embed_slots, "SLOTS", slots)
    embedder = HeldEmbedder()
    parts = replace(memory_parts, embedder=embedder)
    writers = [threading.Thread(target=ingest_notes, args=(
        parts, f"writer{n}", [Note(id="n", title="t", body=f"A note of writer {n}.")]),
        kwargs={"progress": False}) for n in range(5)]
    for writer in writers:
        writer.start()
    # a place is taken before its embedding starts on one of the slots' threads: both waited on
    wait_until(lambda: slots.in_use == 2 and slots.waiting == 3 and embedder.now == 2, 60,
               "two writers embedding and three waiting for a place")
    embedder.go.set()
    for writer in writers:
        writer.join(120)
    assert embedder.most == 2 and slots.in_use == 0
    assert all(len(parts.store.list_notes(f"writer{n}")) == 1 for n in range(5))  # written
