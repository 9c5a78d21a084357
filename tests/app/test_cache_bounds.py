"""A Redis that cannot fill: every Redis cache layer holds at most ``RAG_CACHE_MAX_ENTRIES``
entries across all users (oldest out first) while the real app answers, ``cache_size{layer}``
reports them, and the cost ledger is never among what a bound removes. Real PostgreSQL, Redis,
embedding model; the extractive generator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.config import Settings
from rag_core.ingest.ingestion import ingest_notes, ingest_path
from rag_core.parts import Parts, build_parts
from rag_core.redis_kv.keys import layer_index
from rag_core.telemetry import metrics
from rag_core.types import Note

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
GOLDEN = Path(__file__).resolve().parents[2] / "golden"
BOUND = 3
QUESTIONS = [
    "Who rebuilt the wall of Jerusalem?",
    "What did Pastor Okafor say about faith?",
    "What did Abraham do when he was called?",
    "What is the series Hebrews: Better Things about?",
    "How did Noah show his faith?",
    "What does Hebrews 11 say about Abel?",
    "Why did Nehemiah pray before he spoke to the king?",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def bounded(settings: Settings, database_url: str, redis_url: str) -> Iterator[Parts]:
    live = settings.with_overrides(database_url=database_url, redis_url=redis_url,
                                   cache_max_entries=BOUND, llm="extractive",
                                   jwt_secret="test-secret-for-the-bound-tests-0123456789")
    parts = build_parts(live)
    for user in ("amara", "ben"):
        ingest_path(parts, user, GOLDEN / "notes" / "amara", progress=False)
    yield parts
    parts.close()


def live_entries(client: redis.Redis, layer: str) -> int:
    """Entries that Redis really holds for a layer (keys, or fields of semantic scopes)."""
    if layer != "semantic":
        return sum(1 for _ in client.scan_iter(match=f"rag:{layer}:*", count=1000))
    return sum(int(client.hlen(k)) for k in client.scan_iter(match="rag:semantic:*", count=1000)
               if not k.endswith(b":idx"))


async def test_every_redis_cache_layer_stays_under_its_bound_while_answering(
        bounded: Parts, redis_url: str) -> None:
    settings = bounded.settings
    app = create_app(settings, parts=bounded)
    asked = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test", timeout=120) as client:
        for user in ("amara", "ben"):
            headers = {"Authorization": f"Bearer {issue_token(settings, user)}"}
            for question in QUESTIONS:
                r = await client.post("/v1/query", json={"query": question}, headers=headers)
                assert r.status_code == 200, r.text
                asked += 1
    assert asked > 4 * BOUND
    raw = redis.Redis.from_url(redis_url)
    for layer in ("query", "stale", "semantic", "embedding"):
        held = live_entries(raw, layer)
        assert 0 < held <= BOUND, (layer, held)
        assert raw.zcard(layer_index(layer)) <= BOUND
    # the gauge is refreshed by a write at most every SIZE_EVERY_S, and by size(): refreshed here
    # (a test does not wait on that window)
    for layer in ("query", "embedding", "semantic"):
        counted = getattr(bounded.caches, layer).size()
        assert 0 < counted <= BOUND
        assert metrics.CACHE_SIZE.labels(layer=layer)._value.get() == counted
    # the ledger is no layer's entry: nothing a bound drops
    for layer in ("query", "stale", "semantic", "embedding"):
        assert not [m for m in raw.zrange(layer_index(layer), 0, -1)
                    if m.startswith(b"rag:cost:")]


# --- bytes: a cached answer at top_k 50 from notes with the longest allowed fields ------------

ANSWER_BYTES = 64 * 1024
LAYER_KEYS = ("rag:query:*", "rag:stale:*", "rag:semantic:*", "rag:embedding:*", "rag:index:*")


def longest_note(n: int) -> Note:
    """A note whose fields are as long as the write paths allow (title 300 characters, speaker
    and series 120, 20 tags of 40), each distinct, with a 200-character id."""
    fill = f"{n:03d}" + "x" * 400
    return Note(id=f"note-{n:03d}-" + "i" * 191, title=f"Abraham and Haran, part {fill}"[:300],
                body=f"Abraham left Haran when he was seventy-five years old, as the sermon "
                     f"{n} told it: he went out not knowing where he was going.",
                speaker=f"Pastor {fill}"[:120], series=f"Genesis {fill}"[:120],
                tags=tuple(f"tag{t:02d}-{fill}"[:40] for t in range(20)))


def cache_bytes(client: redis.Redis) -> int:
    """``MEMORY USAGE`` of every key the cache layers hold (entries and their indexes)."""
    keys = {k for pattern in LAYER_KEYS for k in client.scan_iter(match=pattern, count=1000)}
    return sum(int(client.memory_usage(k) or 0) for k in keys)


async def test_an_answer_at_top_k_50_from_the_longest_fields_takes_at_most_64_kb(
        settings: Settings, database_url: str, redis_url: str) -> None:
    live = settings.with_overrides(database_url=database_url, redis_url=redis_url,
                                   llm="extractive",
                                   jwt_secret="test-secret-for-the-bound-tests-0123456789")
    parts = build_parts(live)
    try:
        notes = [longest_note(n) for n in range(50)]
        ingest_notes(parts, "amara", notes, progress=False)
        app = create_app(live, parts=parts)
        raw = redis.Redis.from_url(redis_url)
        headers = {"Authorization": f"Bearer {issue_token(live, 'amara')}"}
        body = {"query": "How old was Abraham when he left Haran?", "top_k": 50}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test", timeout=120) as client:
            first = await client.post("/v1/query", json=body, headers=headers)
            assert first.status_code == 200, first.text
            made = first.json()
            assert not made["no_context"] and len(made["retrieved"]) == 50
            assert len({r["note_id"] for r in made["retrieved"]}) == 50  # 50 distinct titles
            used = cache_bytes(raw)
            assert 0 < used <= ANSWER_BYTES, used
            # the hit reads Redis only: with the notes database closed it is still served
            parts.store.close()
            again = await client.post("/v1/query", json=body, headers=headers)
        assert again.status_code == 200, again.text
        hit = again.json()
        assert hit["cache"]["query"] == "hit"
        for field in ("answer", "citations", "retrieved", "no_context", "generator"):
            assert hit[field] == made[field], field
    finally:
        parts.close()
