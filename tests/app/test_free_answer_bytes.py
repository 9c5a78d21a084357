"""Free answers ("nothing in your notes": no model called) keep in Redis only what their hit
serves, within ``answer_codec.MAX_FREE_ANSWER_BYTES``: a hit's JSON is the same as the
answer's, and a flood of large free answers cannot fill the query layer. Real PostgreSQL,
Redis and embedding model; the extractive generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from rag_core.api.auth import issue_token
from rag_core.app import create_app
from rag_core.cache.answer_codec import MAX_FREE_ANSWER_BYTES
from rag_core.config import Settings
from rag_core.ingest.ingestion import ingest_notes, ingest_path
from rag_core.parts import Parts, build_parts
from rag_core.types import Note

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
GOLDEN = Path(__file__).resolve().parents[2] / "golden"
SECRET = "test-secret-for-the-free-answer-tests-0123456789"
# what a hit sets from its own request (``AnswerMaker.from_cache``)
PER_REQUEST = ("request_id", "timings_ms", "cache", "answer_id")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def query_layer(client: redis.Redis) -> dict[bytes, int]:
    """``MEMORY USAGE`` of every key of the query layer."""
    return {k: int(client.memory_usage(k) or 0)
            for k in client.scan_iter(match="rag:query:*", count=1000)}


async def ask_twice(live: Settings, parts: Parts, body: dict[str, Any]
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    app = create_app(live, parts=parts)
    headers = {"Authorization": f"Bearer {issue_token(live, 'amara')}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test", timeout=120) as client:
        first = await client.post("/v1/query", json=body, headers=headers)
        again = await client.post("/v1/query", json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    return first.json(), again.json()


async def test_a_free_answer_hit_serves_the_json_of_the_answer_it_kept(
        settings: Settings, database_url: str, redis_url: str) -> None:
    live = settings.with_overrides(database_url=database_url, redis_url=redis_url,
                                   llm="extractive", jwt_secret=SECRET)
    parts = build_parts(live)
    try:
        ingest_path(parts, "amara", GOLDEN / "notes" / "amara", progress=False)
        body = {"query": "What did Zerubbabel teach about the Jerusalem wall?", "top_k": 8,
                "debug": True}
        made, hit = await ask_twice(live, parts, body)
    finally:
        parts.close()
    assert made["no_context"] and made["generator"] == "none"
    assert made["retrieved"], "a not_found answer lists what was retrieved"
    assert made["cache"]["query"] == "miss" and hit["cache"]["query"] == "hit"
    assert {k: v for k, v in hit.items() if k not in PER_REQUEST} == \
        {**{k: v for k, v in made.items() if k not in PER_REQUEST},
         # an exact hit explains why the notes have nothing, not the semantic miss before it
         "decisions": {**made["decisions"], "semantic": None}}
    held = query_layer(redis.Redis.from_url(redis_url))
    assert len(held) == 1
    assert 0 < max(held.values()) <= MAX_FREE_ANSWER_BYTES, held


def longest_note(n: int) -> Note:
    """A note with a 200-character id and a 300-character title (the longest allowed)."""
    return Note(id=f"note-{n:03d}-" + "i" * 191, title=f"Abraham and Haran {n:03d} " + "x" * 300,
                body=f"Abraham left Haran when he was seventy-five years old, as sermon {n} "
                     "told it: he went out not knowing where he was going.")


async def test_a_free_answer_over_its_byte_bound_is_served_but_not_kept(
        settings: Settings, database_url: str, redis_url: str) -> None:
    live = settings.with_overrides(database_url=database_url, redis_url=redis_url,
                                   llm="extractive", jwt_secret=SECRET)
    parts = build_parts(live)
    try:
        ingest_notes(parts, "amara", [longest_note(n) for n in range(50)], progress=False)
        body = {"query": "What did Zerubbabel say about Abraham leaving Haran?", "top_k": 50}
        made, again = await ask_twice(live, parts, body)
    finally:
        parts.close()
    assert made["no_context"] and made["generator"] == "none"
    assert len({r["note_id"] for r in made["retrieved"]}) == 50
    assert again["no_context"] and again["retrieved"] == made["retrieved"]
    assert again["cache"]["query"] == "miss"  # not kept: asked again, searched again
    assert query_layer(redis.Redis.from_url(redis_url)) == {}
