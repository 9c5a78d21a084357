"""A small user is searched on their own rows, a large one through the shared indexes
(``rag_core.store.searching``), on a real PostgreSQL + pgvector.

The two ways must find the same chunks (the own-rows dense scan is exact; on a few rows HNSW
at ef_search 40 is too), the choice must follow the user's chunk count in every mode, and the
own-rows statements must not read the HNSW or GIN index of every user's chunks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pgvector.psycopg import register_vector

from rag_core.config import Retrieval
from rag_core.store import ChunkDraft
from rag_core.store.pgvector import PgVectorStore
from rag_core.store.searching import statement, user_rows_limit
from rag_core.types import Note

pytestmark = pytest.mark.integration

DIM = 384
MODES = ("dense", "lexical", "hybrid")
WORDS = ("grace", "covenant", "harvest", "shepherd", "jordan", "manna", "exile", "vineyard")
QUESTION = "What was said about the shepherd and the harvest?"


def texts(n: int) -> list[str]:
    return [f"Notes on {WORDS[i % len(WORDS)]} and {WORDS[(i * 3 + 1) % len(WORDS)]}, part {i}."
            for i in range(n)]


def ingest(store: PgVectorStore, user: str, n: int, rng: np.random.Generator) -> None:
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, text in enumerate(texts(n)):
        note = Note(id=f"{user}-{i}", title=f"Sermon {i}", body=text)
        store.upsert_note(user, note, f"d{i}", [ChunkDraft(0, text, hashlib.sha1(
            text.encode()).hexdigest())], vectors[i:i + 1])


@pytest.fixture
def users(store: PgVectorStore) -> PgVectorStore:
    rng = np.random.default_rng(7)
    ingest(store, "small", 4, rng)
    ingest(store, "large", 12, rng)
    return store


@pytest.fixture
def spans() -> Iterator[tuple[Any, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


def query_vector() -> np.ndarray:
    v = np.random.default_rng(11).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def test_the_choice_follows_the_users_chunk_count_in_every_mode(
        users: PgVectorStore, spans: tuple[Any, InMemorySpanExporter]) -> None:
    tracer, exporter = spans
    for mode in MODES:
        params = Retrieval(retrieval_mode=mode, user_scan_max_chunks=5, user_scan_scale=0.0)
        for user in ("small", "large"):
            with tracer.start_as_current_span(f"{mode}-{user}"):
                users.search(user, query_vector(), 3, query_text=QUESTION, params=params)
    seen = {s.name: dict(s.attributes or {}) for s in exporter.get_finished_spans()}
    for mode in MODES:
        assert seen[f"{mode}-small"] == {"search.user_chunks": 4, "search.user_rows": True,
                                         "search.user_rows_limit": 5,
                                         "search.halfvec_index": True, "search.filtered": False}
        assert seen[f"{mode}-large"] == {"search.user_chunks": 12, "search.user_rows": False,
                                         "search.user_rows_limit": 5,
                                         "search.halfvec_index": True, "search.filtered": False}


def test_the_limit_grows_with_the_analysed_table(users: PgVectorStore, database_url: str,
                                                 spans: tuple[Any, InMemorySpanExporter]) -> None:
    tracer, exporter = spans
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE chunks")  # 16 rows: the planner's estimate the search reads
    # sqrt(10 * 16) = 12: the large user (12 chunks) now reads its own rows; 9 * 16: 12 too,
    # isqrt(8 * 16) = 11: it does not
    for scale in (10.0, 9.0, 8.0):
        params = Retrieval(retrieval_mode="hybrid", user_scan_max_chunks=5,
                              user_scan_scale=scale)
        with tracer.start_as_current_span(f"s{scale}"):
            users.search("large", query_vector(), 3, query_text=QUESTION, params=params)
    seen = {s.name: dict(s.attributes or {}) for s in exporter.get_finished_spans()}
    assert [seen[f"s{x}"]["search.user_rows"] for x in (10.0, 9.0, 8.0)] == [True, True, False]
    assert [seen[f"s{x}"]["search.user_rows_limit"] for x in (10.0, 9.0, 8.0)] == [12, 12, 11]


@pytest.mark.parametrize("mode", MODES)
def test_own_rows_and_shared_indexes_find_the_same_chunks(users: PgVectorStore,
                                                          mode: str) -> None:
    for user in ("small", "large"):
        found = {}
        for cap in (0, 1_000):  # 0: every user through the indexes; 1,000: on own rows
            params = Retrieval(retrieval_mode=mode, user_scan_max_chunks=cap,
                                  user_scan_scale=0.0)
            hits = users.search(user, query_vector(), 3, query_text=QUESTION, params=params)
            assert hits and all(c.user_id == user for c in hits)
            found[cap] = [(c.chunk_id, round(c.score, 5)) for c in hits]
        assert found[0] == found[1_000], (mode, user)


def test_dense_on_own_rows_is_the_exact_nearest(users: PgVectorStore) -> None:
    params = Retrieval(retrieval_mode="dense", user_scan_max_chunks=1_000)
    hits = users.search("large", query_vector(), 12, params=params)
    scores = [c.score for c in hits]
    assert len(hits) == 12 and scores == sorted(scores, reverse=True)


def plan_of(url: str, mode: str, user_rows: bool) -> str:
    query, values = statement(Retrieval(retrieval_mode=mode), 5, "large", query_vector(),
                              QUESTION, user_rows=user_rows)
    with psycopg.connect(url) as conn:
        register_vector(conn)
        # Indexes made as attractive as they can be: a plan on own rows still avoids them.
        conn.execute("SET LOCAL enable_seqscan = off")
        rows = conn.execute(psycopg.sql.SQL("EXPLAIN (FORMAT JSON) ") + query, values)
        return json.dumps(rows.fetchone()[0])


@pytest.mark.parametrize("mode", MODES)
def test_own_rows_statements_never_read_the_shared_indexes(users: PgVectorStore,
                                                           database_url: str, mode: str) -> None:
    plan = plan_of(database_url, mode, user_rows=True)
    assert "chunks_embedding_" not in plan and "chunks_tsv_idx" not in plan
    assert "chunks_user_note_idx" in plan


def test_the_limit_is_the_floor_or_the_square_root_of_scale_times_the_table() -> None:
    params = Retrieval(user_scan_max_chunks=500, user_scan_scale=25.0)
    assert user_rows_limit(params, 0) == 500 and user_rows_limit(params, 10_000) == 500
    assert user_rows_limit(params, 100_000) == 1_581  # isqrt(2,500,000)
    assert user_rows_limit(params, 1_000_000) == 5_000
    assert user_rows_limit(params, -1) == 500  # reltuples of a table never analysed
    off = params.with_(user_scan_max_chunks=0, user_scan_scale=0.0)
    assert user_rows_limit(off, 10**9) == 0
