"""BM25 statistics and ranking against a real PostgreSQL (fresh database per test).

The texts use words whose english lexemes are plain to see ("grace" -> grace, "lilies" -> lili,
"mercy" -> merci), and notes carry a one-word title, which is part of every chunk's tsvector
(weight A).  Expected lengths, document frequencies and scores are worked out by hand here.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from rag_core.config import Retrieval, Settings, fixed
from rag_core.store import ChunkDraft, NoteWrite
from rag_core.store.bulk import write_notes
from rag_core.store.pgvector import PgVectorStore, store_for
from rag_core.types import Note

pytestmark = pytest.mark.integration

LEXICAL = Retrieval(retrieval_mode="lexical")

DIM = 384
TERMS = ["alpha", "beta", "field", "grace", "lili", "merci"]


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def put(store: PgVectorStore, user: str, note_id: str, title: str, texts: list[str],
        digest: str = "v1") -> None:
    drafts = [ChunkDraft(i, t, hashlib.sha256(t.encode()).hexdigest())
              for i, t in enumerate(texts)]
    store.upsert_note(user, Note(id=note_id, title=title, body=" ".join(texts)), digest, drafts,
                      vectors(len(texts)))


def stats(store: PgVectorStore, user: str) -> tuple[int, int, dict[str, int]]:
    got = store.lexical_stats(user, TERMS)
    return got["chunks"], got["total_length"], {t: d for t, d in got["df"].items() if d}


def test_statistics_after_insert_edit_and_delete_per_user(store: PgVectorStore) -> None:
    put(store, "ann", "a", "Alpha", ["grace grace mercy", "mercy field"])  # lengths 4 and 3
    put(store, "ann", "b", "Beta", ["grace lilies"])                       # length 3
    put(store, "bob", "a", "Alpha", ["grace"])                             # length 2
    assert stats(store, "ann") == (3, 10, {"alpha": 2, "beta": 1, "field": 1, "grace": 2,
                                           "lili": 1, "merci": 2})
    assert store.lexical_stats("ann")["avg_length"] == pytest.approx(10 / 3)
    assert stats(store, "bob") == (1, 2, {"alpha": 1, "grace": 1})

    put(store, "ann", "a", "Alpha", ["grace grace mercy", "mercy field"])  # same hash: nothing
    assert stats(store, "ann")[:2] == (3, 10)

    put(store, "ann", "a", "Alpha", ["mercy"], digest="v2")  # edit: one chunk of length 2
    assert stats(store, "ann") == (2, 5, {"alpha": 1, "beta": 1, "grace": 1, "lili": 1,
                                          "merci": 1})

    assert store.delete_note("ann", "b")
    assert stats(store, "ann") == (1, 2, {"alpha": 1, "merci": 1})
    assert stats(store, "bob") == (1, 2, {"alpha": 1, "grace": 1})  # untouched

    assert store.delete_note("ann", "a")
    assert stats(store, "ann") == (0, 0, {})
    with psycopg.connect(store.pool.url) as conn:  # no rows left behind
        left = conn.execute("SELECT count(*) FROM lexeme_stats WHERE user_id = 'ann'").fetchone()
        assert left == (0,)


def test_statistics_of_an_open_write_are_invisible(store: PgVectorStore) -> None:
    """A reader sees the statistics of committed writes only (never half an ingest)."""
    put(store, "ann", "a", "Alpha", ["grace"])
    items = [NoteWrite(Note(id=f"n{i}", title="Beta", body="lilies"), "v1",
                       [ChunkDraft(0, "lilies", "h")], vectors(1, i)) for i in range(3)]
    with psycopg.connect(store.pool.url) as conn:
        register_vector(conn)
        write_notes(conn, "ann", items, [it.embeddings for it in items])
        inside = conn.execute("SELECT chunks FROM user_lexical_stats WHERE user_id = 'ann'")
        assert inside.fetchone() == (4,)  # the writer sees its own rows
        assert stats(store, "ann")[:2] == (1, 2)  # another connection does not, yet
        assert store.search("ann", None, 5, query_text="lilies", params=LEXICAL) == []
        conn.commit()
    assert stats(store, "ann") == (4, 8, {"alpha": 1, "beta": 3, "grace": 1, "lili": 3})


def bm25(tf: float, df: int, n: int, length: int, avglen: float, k1: float, b: float) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avglen))


def test_ranking_matches_hand_computed_bm25(store: PgVectorStore,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # chunk: (title, text) -> lexemes with tf, length
    put(store, "ann", "a", "Alpha", ["grace grace grace field"])       # len 5: grace 3
    put(store, "ann", "b", "Beta", ["grace mercy mercy mercy mercy"])  # len 6: grace 1
    put(store, "ann", "c", "Grace", ["mercy field"])                   # len 3: grace 1 (title)
    put(store, "ann", "d", "Delta", ["lilies"])                        # len 2
    put(store, "bob", "x", "Grace", ["grace grace grace grace"])       # another user's df
    n, avglen = 4, (5 + 6 + 3 + 2) / 4
    k1, b, wa = 1.2, 0.75, fixed.BM25_METADATA_WEIGHT
    params = Retrieval(retrieval_mode="lexical", bm25_k1=k1, bm25_b=b)
    got = store.search("ann", None, 10, query_text="grace and lilies", params=params)
    expected = {
        "a": bm25(3, 3, n, 5, avglen, k1, b),
        "b": bm25(1, 3, n, 6, avglen, k1, b),
        "c": bm25(wa, 3, n, 3, avglen, k1, b),  # one title position counts metadata_weight
        "d": bm25(1, 1, n, 2, avglen, k1, b),
    }
    assert [c.note_id for c in got] == sorted(expected, key=lambda k: -expected[k])
    for c in got:
        assert c.lexical_score == pytest.approx(expected[c.note_id], rel=1e-9)
        assert c.score == c.lexical_score  # no vector: the score is the lexical one
    assert got[0].note_id == "d"  # the rare term outweighs three of a common one
    assert {c.note_id: c.matched_terms for c in got}["d"] == ("lili",)

    monkeypatch.setattr(fixed, "BM25_METADATA_WEIGHT", 1.0)
    flat = store.search("ann", None, 10, query_text="grace", params=params.with_(bm25_k1=0.0))
    # k1 = 0: tf and length no longer matter, every match scores the idf alone
    assert len(flat) == 3
    assert [c.lexical_score for c in flat] == pytest.approx([math.log(1 + 1.5 / 3.5)] * 3)


def test_query_text_is_never_tsquery_syntax(store: PgVectorStore) -> None:
    put(store, "ann", "a", "Alpha", ["grace and mercy"])
    for text in ("grace & !mercy", "'grace':* | (", "grace) <-> (mercy", "\\ : * !"):
        got = store.search("ann", None, 5, query_text=text, params=LEXICAL)
        assert [c.note_id for c in got] == (["a"] if "grace" in text else [])
    assert store.query_lexemes("Lilies of Micah 6:8") == ["lili", "micah", "micah6", "micah6v8"]


def test_both_rankers_and_hybrid_return_explainable_hits(store: PgVectorStore) -> None:
    put(store, "ann", "a", "Alpha", ["grace grace field"])
    put(store, "ann", "b", "Beta", ["lilies of the field"])
    query = vectors(1, 5)[0]
    for ranker in ("bm25", "ts_rank_cd"):
        params = Retrieval(retrieval_mode="hybrid", lexical_ranker=ranker, dense_candidates=5,
                              lexical_candidates=5)
        got = store.search("ann", query, 2, query_text="field lilies", params=params)
        assert {c.note_id for c in got} == {"a", "b"}
        for c in got:
            assert c.lexical_rank is not None and c.lexical_score is not None
            assert c.fused_score is not None and c.dense_rank is not None
            assert set(c.matched_terms) <= {"field", "lili"} and "field" in c.matched_terms


def test_migration_3_backfills_the_statistics_of_existing_chunks(settings: Settings,
                                                                 database_url: str) -> None:
    """A database written before BM25 (migrations 1-2) gets lengths, df and triggers."""
    from rag_core.store import sql as q

    with psycopg.connect(database_url) as conn:
        conn.execute(q.CREATE_MIGRATIONS_TABLE)
        for migration in q.migrations(DIM, 16, 64)[:2]:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(q.RECORD_MIGRATION, (migration.version, migration.name))
        register_vector(conn)
        conn.execute("INSERT INTO notes (user_id, note_id, content_hash) VALUES ('ann', 'a', 'h')")
        for i, text in enumerate(["grace grace mercy", "mercy field"]):
            conn.execute(
                "INSERT INTO chunks (chunk_id, user_id, note_id, ordinal, text, content_hash,"
                " metadata, embedding, tsv) VALUES (%s, 'ann', 'a', %s, %s, 'h',"
                " '{\"title\": \"Alpha\"}', %s, rag_chunk_tsv('{\"title\": \"Alpha\"}', %s))",
                (f"c{i}", i, text, vectors(1, i)[0], text))
    st = store_for(settings.with_overrides(database_url=database_url))
    try:
        assert st.ensure_schema()[0] == 3  # and the migrations after it
        assert stats(st, "ann") == (2, 7, {"alpha": 2, "field": 1, "grace": 1, "merci": 2})
        put(st, "ann", "b", "Beta", ["grace"])  # the triggers work from now on
        assert stats(st, "ann")[:2] == (3, 9)
    finally:
        st.close()
