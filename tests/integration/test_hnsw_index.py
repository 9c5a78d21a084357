"""The HNSW index holds vectors or their half-precision copies (``RAG_HNSW_VECTOR_TYPE``), on a
real PostgreSQL + pgvector.

A new database gets the index of the setting; a search orders by the expression of whichever
index exists, so it never misses the index; ``reindex`` (``rag-core migrate --reindex``) swaps
one index for the other; the scores stay full-precision cosines either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pgvector.psycopg import register_vector

from rag_core.cli import main as cli
from rag_core.config import Retrieval, Settings
from rag_core.errors import ReindexFailed, ReindexRunning
from rag_core.store import ChunkDraft
from rag_core.store import sql as q
from rag_core.store.pgvector import PgVectorStore, store_for
from rag_core.store.searching import statement
from rag_core.types import Note

pytestmark = pytest.mark.integration

DIM = 384
# every user through the index
SHARED = Retrieval(retrieval_mode="dense", user_scan_max_chunks=0, user_scan_scale=0.0)
QUESTION = "What was said about the harvest?"


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_store(db_settings: Settings, vector_type: str) -> PgVectorStore:
    st = store_for(db_settings.model_copy(update={"hnsw_vector_type": vector_type}))
    st.ensure_schema()
    rng = np.random.default_rng(3)
    for user in ("ruth", "boaz"):
        for i, vec in enumerate(unit(rng, 30)):
            text = f"Sermon {i} of {user} on the harvest and the gleaning, part {i}."
            st.upsert_note(user, Note(id=f"{user}-{i}", title=f"Sermon {i}", body=text), f"h{i}",
                           [ChunkDraft(0, text, hashlib.sha1(text.encode()).hexdigest())],
                           vec[None, :])
    return st


@pytest.fixture(params=["vector", "halfvec"])
def typed_store(request: pytest.FixtureRequest, db_settings: Settings
                ) -> Iterator[PgVectorStore]:
    st = make_store(db_settings, request.param)
    yield st
    st.close()


def indexes(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes "
                                 "WHERE tablename = 'chunks' AND indexdef LIKE '%hnsw%'"))


def plan(url: str, halfvec: bool, mode: str = "dense") -> str:
    vector = unit(np.random.default_rng(5), 1)[0]
    query, values = statement(Retrieval(retrieval_mode=mode), 5, "ruth", vector, QUESTION,
                              halfvec=halfvec)
    with psycopg.connect(url) as conn:
        register_vector(conn)
        # no sort: the k nearest can only come in order from an HNSW index that matches the
        # statement's ORDER BY (with a sort, the planner may pick the user_id index)
        conn.execute("SET LOCAL enable_sort = off")
        rows = conn.execute(psycopg.sql.SQL("EXPLAIN (FORMAT JSON) ") + query, values)
        return json.dumps(rows.fetchone()[0])


def dense(store: PgVectorStore, n: int = 8) -> list[list[tuple[str, float]]]:
    return [[(c.chunk_id, round(c.score, 5)) for c in store.search("ruth", v, 5, params=SHARED)]
            for v in unit(np.random.default_rng(9), n)]


def test_a_new_database_gets_the_index_of_the_setting(typed_store: PgVectorStore,
                                                      database_url: str) -> None:
    kind = typed_store.index.hnsw_vector_type
    found = indexes(database_url)
    assert list(found) == [q.HNSW_INDEXES[kind]]
    definition = found[q.HNSW_INDEXES[kind]].replace(" ", "")
    assert f"{kind}_cosine_ops" in definition
    assert f"m='{typed_store.index.hnsw_m}'" in definition
    if kind == "halfvec":
        assert f"halfvec({DIM})" in definition  # an expression index: the column stays vector
    assert typed_store.hnsw_index().keys() == found.keys()


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_the_search_statement_of_each_type_uses_its_index(typed_store: PgVectorStore,
                                                          database_url: str, mode: str) -> None:
    kind = typed_store.index.hnsw_vector_type
    assert q.HNSW_INDEXES[kind] in plan(database_url, kind == "halfvec", mode)
    # the other type's expression cannot use this index
    assert "chunks_embedding_" not in plan(database_url, kind != "halfvec", mode)


def test_a_search_reads_which_index_is_in_place(typed_store: PgVectorStore) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("search"):
        typed_store.search("ruth", unit(np.random.default_rng(1), 1)[0], 3, params=SHARED)
    provider.shutdown()
    (span,) = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs["search.halfvec_index"] is (typed_store.index.hnsw_vector_type == "halfvec")
    assert attrs["search.user_rows"] is False


def test_scores_are_full_precision_cosines_on_either_index(typed_store: PgVectorStore,
                                                          database_url: str) -> None:
    query = unit(np.random.default_rng(2), 1)[0]
    hits = typed_store.search("ruth", query, 5, params=SHARED)
    with psycopg.connect(database_url) as conn:
        register_vector(conn)
        stored = dict(conn.execute("SELECT chunk_id, embedding FROM chunks WHERE user_id = 'ruth'"))
    for hit in hits:
        exact = float(np.dot(stored[hit.chunk_id].to_numpy(), query))
        assert hit.score == pytest.approx(exact, abs=1e-6)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_reindex_swaps_the_index_and_the_search_follows(db_settings: Settings,
                                                        database_url: str) -> None:
    st = make_store(db_settings, "vector")
    try:
        before = dense(st)
        done = st.reindex("halfvec", m=8, ef_construction=32)
        assert done["vector_type"] == "halfvec" and done["m"] == 8
        found = indexes(database_url)
        assert list(found) == ["chunks_embedding_halfvec_idx"]
        assert "m='8'" in found["chunks_embedding_halfvec_idx"].replace(" ", "")
        assert "chunks_embedding_halfvec_idx" in plan(database_url, halfvec=True)
        # 30 rows per user: both indexes find the exact neighbours, with the same scores
        assert dense(st) == before
        st.reindex("vector")
        assert list(indexes(database_url)) == ["chunks_embedding_hnsw_idx"]
        assert dense(st) == before
    finally:
        st.close()


def test_reindex_drops_what_an_interrupted_build_left(typed_store: PgVectorStore,
                                                      database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE INDEX {q.HNSW_BUILDING} ON chunks (ordinal)")
    typed_store.reindex()
    assert list(indexes(database_url)) == [q.HNSW_INDEXES[typed_store.index.hnsw_vector_type]]
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = %s",
                            (q.HNSW_BUILDING,)).fetchone()
    assert left == (0,)


def test_a_refused_rebuild_is_a_coded_error_and_keeps_the_index(
        typed_store: PgVectorStore, database_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    before = indexes(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:  # the build's name, taken
        conn.execute(f"CREATE TABLE {q.HNSW_BUILDING} (x int)")
    with pytest.raises(ReindexFailed) as err:
        typed_store.reindex()
    assert err.value.code == "REINDEX_FAILED" and "old one stays" in err.value.message
    assert indexes(database_url) == before
    assert dense(typed_store)[0]  # searches go on with the old index
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RAG_PROFILE", "ci")
    assert cli.main(["migrate", "--reindex"]) == 3
    assert "error REINDEX_FAILED: The HNSW index was not rebuilt" in capsys.readouterr().err
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {q.HNSW_BUILDING}")
    typed_store.reindex()  # the lock went with the failed session


def test_one_reindex_at_a_time(typed_store: PgVectorStore, database_url: str) -> None:
    before = indexes(database_url)
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (q.REINDEX_LOCK_KEY,))
        with pytest.raises(ReindexRunning) as err:
            typed_store.reindex()
    assert err.value.code == "REINDEX_RUNNING"
    assert indexes(database_url) == before
    typed_store.reindex()  # the lock went with the other session


def test_settings_that_differ_from_the_index_are_logged_not_applied(
        db_settings: Settings, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    make_store(db_settings, "vector").close()
    st = store_for(db_settings.model_copy(update={"hnsw_vector_type": "halfvec"}))
    try:
        with caplog.at_level(logging.WARNING, logger="rag_core.store.pgvector"):
            assert st.ensure_schema() == []
        assert "migrate --reindex" in caplog.text
        assert list(indexes(database_url)) == ["chunks_embedding_hnsw_idx"]
        assert dense(st)[0]  # searches use the vector index in place
        assert "chunks_embedding_hnsw_idx" in plan(database_url, halfvec=False)
    finally:
        st.close()
    for update, warned in (({"hnsw_m": 24}, True), ({"hnsw_ef_construction": 128}, True),
                           ({}, False)):
        caplog.clear()
        st = store_for(db_settings.model_copy(update={"hnsw_vector_type": "vector",
                                                          **update}))
        with caplog.at_level(logging.WARNING, logger="rag_core.store.pgvector"):
            st.ensure_schema()
        st.close()
        assert ("migrate --reindex" in caplog.text) is warned, update


def test_migrate_reindex_from_the_command_line(db_settings: Settings, database_url: str,
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    make_store(db_settings, "halfvec").close()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RAG_PROFILE", "ci")
    monkeypatch.setenv("RAG_HNSW_VECTOR_TYPE", "vector")
    assert cli.main(["migrate", "--reindex"]) == 0
    out = capsys.readouterr().out
    assert "schema already up to date" in out
    assert "HNSW index rebuilt as vector (m 16, ef_construction 64)" in out
    assert list(indexes(database_url)) == ["chunks_embedding_hnsw_idx"]
