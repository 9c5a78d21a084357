"""PgVectorStore against a real PostgreSQL + pgvector (fresh database per test).

Vectors here are random unit vectors: these tests are about storage, scoping and SQL, not about
what the embedding model understands (tests/integration/test_ingest.py covers that).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from typing import Any

import numpy as np
import psycopg
import pytest
from servers import OwnPostgres

from rag_core.config import Retrieval, Settings, fixed
from rag_core.errors import SchemaMismatch, VectorSearchFailed
from rag_core.procs import wait_until
from rag_core.store import ChunkDraft, Store, UpsertResult
from rag_core.store.pgvector import PgVectorStore, make_chunk_id, store_for
from rag_core.types import Note

pytestmark = pytest.mark.integration

DIM = 384

LEXICAL, DENSE, HYBRID = (Retrieval(retrieval_mode=m) for m in ("lexical", "dense", "hybrid"))


def unit(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def drafts(*texts: str) -> list[ChunkDraft]:
    return [ChunkDraft(i, t, hashlib.sha256(t.encode()).hexdigest()) for i, t in enumerate(texts)]


def note(note_id: str, body: str = "body", **meta: object) -> Note:
    return Note(id=note_id, title=str(meta.pop("title", f"Title {note_id}")), body=body,
                **meta)  # type: ignore[arg-type]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240310)


def put(store: PgVectorStore, user: str, n: Note, texts: list[str], vectors: np.ndarray,
        digest: str = "v1") -> UpsertResult:
    return store.upsert_note(user, n, digest, drafts(*texts), vectors)


# --- schema ------------------------------------------------------------------------------


def test_implements_the_store_protocol() -> None:
    for name in ("ensure_schema", "note_hash", "note_hashes", "upsert_note", "upsert_notes",
                 "delete_note", "notes_version", "search", "ping", "close"):
        assert callable(getattr(PgVectorStore, name)), name
        assert hasattr(Store, name)


def test_schema_is_idempotent_and_versioned(db_settings: Settings, database_url: str) -> None:
    st = store_for(db_settings)
    try:
        assert st.ensure_schema() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
        assert st.ensure_schema() == []
    finally:
        st.close()
    with psycopg.connect(database_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        indexes = dict(conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunks'").fetchall())
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert versions == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert {"notes", "chunks", "notes_versions", "user_api_costs", "lexeme_stats",
            "user_lexical_stats", "answers", "answer_feedback", "query_log",
            "cost_reservations", "notes_version_debts", "request_counts"} <= tables
    hnsw = indexes["chunks_embedding_halfvec_idx"]  # the default RAG_HNSW_VECTOR_TYPE
    assert "hnsw" in hnsw and "halfvec_cosine_ops" in hnsw
    assert "chunks_embedding_hnsw_idx" not in indexes
    assert f"m='{db_settings.index.hnsw_m}'" in hnsw.replace(" ", "")
    assert f"ef_construction='{db_settings.index.hnsw_ef_construction}'" in hnsw.replace(" ", "")
    assert "gin" in indexes["chunks_tsv_idx"]
    assert "(user_id, note_id)" in indexes["chunks_user_note_idx"]


def test_schema_from_two_threads_at_once(db_settings: Settings, database_url: str) -> None:
    stores = [store_for(db_settings) for _ in range(3)]
    barrier = threading.Barrier(len(stores))
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run(st: PgVectorStore) -> None:
        barrier.wait()
        try:
            results.append(st.ensure_schema())
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(st,)) for st in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for st in stores:
        st.close()
    assert errors == []
    assert sorted(results) == [[], [], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (14,)


def test_dimension_mismatch_is_reported(store: PgVectorStore, db_settings: Settings) -> None:
    other = store_for(db_settings.with_overrides(embedding_dim=768))
    try:
        with pytest.raises(SchemaMismatch, match="vector\\(384\\)"):
            other.ensure_schema()
    finally:
        other.close()


# --- notes -------------------------------------------------------------------------------


def test_upsert_statuses_versions_and_delete(store: PgVectorStore, rng: np.random.Generator
                                             ) -> None:
    assert store.notes_version("ann") == 0
    assert store.note_hash("ann", "n1") is None
    n1 = note("n1", speaker="Ruth Okafor", scripture=("Micah 6:8",))
    assert put(store, "ann", n1, ["one", "two"], unit(rng, 2)) == UpsertResult("n1", "inserted", 2)
    assert store.notes_version("ann") == 1
    assert store.note_hash("ann", "n1") == "v1"

    again = put(store, "ann", n1, ["one", "two"], unit(rng, 2))
    assert again == UpsertResult("n1", "unchanged", 0)
    assert store.notes_version("ann") == 1

    changed = put(store, "ann", n1, ["three"], unit(rng, 1), digest="v2")
    assert changed == UpsertResult("n1", "updated", 1)
    assert store.notes_version("ann") == 2
    assert store.count_chunks("ann") == 1

    listing = store.list_notes("ann")
    assert [(r["note_id"], r["title"], r["content_hash"], r["chunks"]) for r in listing] == [
        ("n1", "Title n1", "v2", 1)]
    assert listing[0]["metadata"]["scripture"] == ["Micah 6:8"]

    assert store.delete_note("ann", "n1") is True
    assert store.notes_version("ann") == 3
    assert store.delete_note("ann", "n1") is False
    assert store.notes_version("ann") == 3
    assert store.count_chunks() == 0
    assert store.users() == []


def test_edit_replaces_chunks_and_lexical_index(store: PgVectorStore, rng: np.random.Generator
                                                ) -> None:
    n = note("n1")
    put(store, "ann", n, ["The harvest is plentiful but the labourers are few."], unit(rng))
    assert store.search("ann", None, 5, query_text="labourers", params=LEXICAL)
    put(store, "ann", n, ["Consider the lilies of the field."], unit(rng), digest="v2")
    texts = [c.text for c in store.search("ann", unit(rng)[0], 5)]
    assert texts == ["Consider the lilies of the field."]
    assert store.search("ann", None, 5, query_text="labourers", params=LEXICAL) == []
    assert [c.text for c in store.search("ann", None, 5, query_text="lilies", params=LEXICAL)] \
        == ["Consider the lilies of the field."]


def test_chunk_ids_are_deterministic_and_distinct_per_user(store: PgVectorStore,
                                                           rng: np.random.Generator) -> None:
    same = note("welcome", "Welcome to your notes.")
    vec = unit(rng)
    put(store, "ann", same, ["Welcome to your notes."], vec)
    put(store, "bob", same, ["Welcome to your notes."], vec)
    ann = store.search("ann", vec[0], 5)[0]
    bob = store.search("bob", vec[0], 5)[0]
    assert ann.chunk_id != bob.chunk_id
    assert ann.chunk_id.startswith("welcome:0:")
    assert ann.chunk_id == make_chunk_id("ann", "welcome", 0, drafts("Welcome to your notes.")[0]
                                         .content_hash)


def test_bad_embeddings_are_rejected(store: PgVectorStore, rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match="shape"):
        put(store, "ann", note("n1"), ["a", "b"], unit(rng, 1))
    with pytest.raises(ValueError, match="dimensions"):
        store.search("ann", np.ones(10, dtype=np.float32), 5)
    with pytest.raises(ValueError, match="embedding"):
        store.search("ann", None, 5, params=HYBRID, query_text="x")
    assert store.notes_version("ann") == 0


# --- search ------------------------------------------------------------------------------


def test_dense_search_orders_by_cosine(store: PgVectorStore, rng: np.random.Generator) -> None:
    vectors = unit(rng, 30)
    for i in range(10):
        put(store, "ann", note(f"n{i}"), [f"text {i} {j}" for j in range(3)],
            vectors[3 * i:3 * i + 3])
    query = unit(rng)[0]
    got = store.search("ann", query, 7)
    expected = np.sort(vectors @ query)[::-1][:7]
    assert [c.dense_rank for c in got] == list(range(1, 8))
    np.testing.assert_allclose([c.score for c in got], expected, atol=1e-5)
    more = store.search("ann", query, 7, params=Retrieval(hnsw_ef_search=200))
    assert [c.chunk_id for c in more] == [c.chunk_id for c in got]


def test_scripture_references_match_lexically(store: PgVectorStore, rng: np.random.Generator
                                              ) -> None:
    put(store, "ann", note("micah", title="What the Lord requires"),
        ["Before we went home we read Micah 6:8 together."], unit(rng))
    put(store, "ann", note("loaves", title="Loaves"),
        ["We counted 6 baskets, then 8 children, then 6 more and 8 more."], unit(rng))
    put(store, "ann", note("faith", title="Faith"),
        ["Faith is the assurance of things hoped for (Hebrews 11:1)."], unit(rng))
    put(store, "ann", note("psalm", title="Shepherd", scripture=("Psalm 23",)),
        ["The Lord is my shepherd."], unit(rng))

    def top(text: str) -> str:
        return store.search("ann", None, 3, query_text=text, params=LEXICAL)[0].note_id

    assert top("Micah 6:8") == "micah"
    assert top("what does micah 6:8 say about justice") == "micah"
    assert top("Hebrews 11") == "faith"
    assert top("Hebrews 11:1") == "faith"
    assert top("Psalms 23") == "psalm"  # metadata, and "Psalms" meets "Psalm"
    assert store.search("ann", None, 3, query_text="the of and", params=LEXICAL) == []
    # bare numbers alone are noise, not a match
    assert store.search("ann", None, 3, query_text="6 8", params=LEXICAL) == []
    assert [c.note_id for c in store.search("ann", None, 3, query_text="Micah 6:8",
                                            params=LEXICAL)] == ["micah"]


def test_lexical_uses_or_semantics_and_metadata(store: PgVectorStore, rng: np.random.Generator
                                                ) -> None:
    put(store, "ann", note("a", speaker="Ruth Okafor", series="Advent"),
        ["Waiting in the dark for the light."], unit(rng))
    put(store, "ann", note("b"), ["A garden, a gardener, and weeds."], unit(rng))
    got = store.search("ann", None, 5, query_text="gardening with Okafor", params=LEXICAL)
    assert {c.note_id for c in got} == {"a", "b"}
    assert all(c.lexical_rank is not None and c.dense_rank is None for c in got)


def test_hybrid_fuses_ranks_and_scores_every_chunk(store: PgVectorStore,
                                                   rng: np.random.Generator) -> None:
    vectors = unit(rng, 12)
    texts = [f"ordinary words number {i}" for i in range(12)]
    texts[7] = "Zacchaeus climbed a sycamore tree"
    for i in range(12):
        put(store, "ann", note(f"n{i}"), [texts[i]], vectors[i:i + 1])
    query = -vectors[7]  # dense ranks the Zacchaeus chunk last
    got = store.search("ann", query, 3, query_text="Zacchaeus", params=HYBRID)
    assert got[0].note_id == "n7"
    assert got[0].lexical_rank == 1 and got[0].dense_rank == 12
    assert got[0].score == pytest.approx(float(query @ vectors[7]), abs=1e-5)
    for c in got:
        assert c.fused_score is not None and c.fused_score > 0
        i = int(c.note_id[1:])
        assert c.score == pytest.approx(float(query @ vectors[i]), abs=1e-5)
    assert [c.fused_score for c in got] == sorted([c.fused_score for c in got], reverse=True)


def test_tenant_isolation_in_every_mode(store: PgVectorStore, rng: np.random.Generator) -> None:
    topics = ["grace and forgiveness", "Micah 6:8 justice", "prayer in waiting",
              "Hebrews 11:1 faith", "serving the poor", "Sabbath rest"]
    owned: dict[str, set[str]] = {"ann": set(), "bob": set()}
    base = unit(rng, len(topics))
    for user in owned:
        for i, topic in enumerate(topics):
            n = note(f"n{i}", title=topic.title(), speaker="Ruth Okafor")
            # similar notes: the same topics, vectors a small step apart
            vecs = base[i:i + 1] + 0.05 * unit(rng, 2)
            put(store, user, n, [f"{user} wrote about {topic}.", f"More on {topic}."], vecs)
        owned[user] = {c.chunk_id for c in store.search(user, base[0], 50)}
        assert len(owned[user]) == 2 * len(topics)
    assert not owned["ann"] & owned["bob"]
    words = " ".join(topics).split()
    for _ in range(40):
        query = unit(rng)[0]
        text = " ".join(rng.choice(words, size=3))
        for mode in ("dense", "lexical", "hybrid"):
            for user in ("ann", "bob"):
                got = store.search(user, query, 8, query_text=text,
                                   params=Retrieval(retrieval_mode=mode))  # type: ignore[arg-type]
                assert all(c.user_id == user for c in got)
                assert {c.chunk_id for c in got} <= owned[user]
    assert store.search("carol", base[0], 5, query_text="grace", params=HYBRID) == []


# --- costs -------------------------------------------------------------------------------


def test_costs_add_up_atomically(store: PgVectorStore) -> None:
    day = dt.date(2024, 12, 20)

    def spend(user: str) -> None:
        for _ in range(10):
            store.costs.add_cost(day, user, 0.25, 100, 10)

    threads = [threading.Thread(target=spend, args=(u,)) for u in ("ann", "ann", "bob", "ann")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    rows = store.costs.costs_for_day(day)
    assert [r["user_id"] for r in rows] == ["ann", "bob"]
    assert rows[0]["cost_usd"] == pytest.approx(7.5)
    assert (rows[0]["input_tokens"], rows[0]["output_tokens"], rows[0]["requests"]) == \
        (3000, 300, 30)
    assert rows[1]["cost_usd"] == pytest.approx(2.5)
    assert store.costs.costs_for_day(day + dt.timedelta(days=1)) == []
    assert store.costs.add_cost(day, "bob", 0.5, 1, 2, requests=3)["requests"] == 13


# --- failure and recovery ----------------------------------------------------------------


def test_pool_recovers_after_postgres_restart(own_postgres: OwnPostgres, settings: Settings,
                                              rng: np.random.Generator,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixed, "DB_RECONNECT_TIMEOUT_S", 2.0)
    quick = settings.with_overrides(
        database_url=own_postgres.url, db_pool_timeout_s=1.0, db_connect_timeout_s=1)
    st = store_for(quick)
    try:
        st.ensure_schema()
        vec = unit(rng)
        put(st, "ann", note("n1"), ["Still here after the restart."], vec)
        assert st.search("ann", vec[0], 3)[0].note_id == "n1"

        own_postgres.stop()
        with pytest.raises(VectorSearchFailed) as failed:
            st.search("ann", vec[0], 3)
        assert failed.value.status == 503 and failed.value.retry_after
        assert "not reachable" in failed.value.message
        with pytest.raises(VectorSearchFailed):
            st.notes_version("ann")
        assert st.ping() is False

        own_postgres.start()
        got: list[Any] = []

        def searched() -> bool:
            try:
                got[:] = st.search("ann", vec[0], 3)
            except VectorSearchFailed:
                return False
            return True

        wait_until(searched, 60, "a search after PostgreSQL restarted", poll_s=0.2)
        assert [c.text for c in got] == ["Still here after the restart."]
        assert st.ping() is True
        assert st.notes_version("ann") == 1
    finally:
        st.close()
