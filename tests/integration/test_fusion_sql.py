"""Hybrid search fuses its candidate lists in SQL (``rag_core.store.sql.search._FUSED``) by the
rule that ``rag_core.store.fusion.fuse`` applies in Python, on a real PostgreSQL + pgvector.

The expectation is built apart from the hybrid statement: the store's own dense search and
lexical search, each as deep as hybrid search's list, merged by chunk and fused in Python.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from rag_core.config import Retrieval
from rag_core.store import ChunkDraft
from rag_core.store.fusion import fuse
from rag_core.store.pgvector import PgVectorStore
from rag_core.store.sql.search import search_statement
from rag_core.types import Chunk, Note

pytestmark = pytest.mark.integration

DIM = 384
WORDS = ("grace", "covenant", "harvest", "shepherd", "jordan", "manna", "exile", "vineyard")
QUESTION = "the shepherd, the harvest and the vineyard"


@pytest.fixture
def library(store: PgVectorStore) -> PgVectorStore:
    """30 chunks of one user; every fifth repeats an earlier text, so that lexical scores tie."""
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(30, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i in range(30):
        j = i - 1 if i % 5 == 4 else i
        text = (f"On {WORDS[j % 8]} and {WORDS[(j * 3 + 1) % 8]}; "
                f"{WORDS[(j * 5 + 2) % 8]} once more ({j}).")
        note = Note(id=f"n{i:02d}", title=f"Sermon {i}", body=text)
        store.upsert_note("ann", note, f"d{i}", [ChunkDraft(0, text, hashlib.sha1(
            text.encode()).hexdigest())], vectors[i:i + 1])
    return store


def query_vector() -> np.ndarray:
    v = np.random.default_rng(17).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def fused_in_python(store: PgVectorStore, params: Retrieval, top_k: int) -> list[Chunk]:
    """Dense and lexical lists from the store's own searches (each list as deep as its depth,
    never below ``top_k``), merged and fused in Python."""
    vector = query_vector()
    dense = store.search("ann", vector, max(top_k, params.dense_candidates), query_text=QUESTION,
                         params=params.with_(retrieval_mode="dense"))
    lexical = store.search("ann", vector, max(top_k, params.lexical_candidates),
                           query_text=QUESTION, params=params.with_(retrieval_mode="lexical"))
    merged: dict[str, Chunk] = {}
    for rank, c in enumerate(dense, start=1):
        merged[c.chunk_id] = replace(c, dense_rank=rank)
    for rank, c in enumerate(lexical, start=1):
        first = merged.get(c.chunk_id, replace(c, dense_rank=None))
        merged[c.chunk_id] = replace(first, lexical_rank=rank, lexical_score=c.lexical_score)
    return fuse(list(merged.values()), params, top_k)


@pytest.mark.parametrize("fusion", ["rrf", "score"])
@pytest.mark.parametrize("weights", [(1.0, 1.5), (1.0, 1.0), (0.0, 1.0)])
@pytest.mark.parametrize("own_rows", [True, False])
def test_sql_fusion_is_the_python_rule(library: PgVectorStore, fusion: str,
                                       weights: tuple[float, float], own_rows: bool) -> None:
    params = Retrieval(retrieval_mode="hybrid", fusion=fusion,  # type: ignore[arg-type]
                          fusion_dense_weight=weights[0], fusion_lexical_weight=weights[1],
                          rrf_k=10,
                          dense_candidates=8, lexical_candidates=6, hnsw_ef_search=100,
                          user_scan_max_chunks=1_000 if own_rows else 0, user_scan_scale=0.0)
    expected = fused_in_python(library, params, top_k=7)
    got = library.search("ann", query_vector(), 7, query_text=QUESTION, params=params)
    assert len(got) == 7
    assert [c.chunk_id for c in got] == [c.chunk_id for c in expected]
    for g, e in zip(got, expected, strict=True):
        assert (g.dense_rank, g.lexical_rank) == (e.dense_rank, e.lexical_rank)
        assert g.fused_score == pytest.approx(e.fused_score, rel=1e-12, abs=1e-15)
        assert g.score == pytest.approx(e.score, abs=1e-6)  # the cosine of every hit
        assert g.text == e.text and g.matched_terms  # every hit holds a question lexeme here


def test_fused_ties_go_to_the_dense_rank_then_the_chunk_id(library: PgVectorStore) -> None:
    # equal weights: a chunk ranked r in one list only ties with one ranked r in the other only
    params = Retrieval(retrieval_mode="hybrid", fusion_dense_weight=1.0,
                          fusion_lexical_weight=1.0, rrf_k=10,
                          dense_candidates=8, lexical_candidates=8, hnsw_ef_search=100)
    got = library.search("ann", query_vector(), 16, query_text=QUESTION, params=params)
    fused = [c.fused_score for c in got]
    assert fused == sorted(fused, reverse=True)
    ties = [(a, b) for a, b in zip(got, got[1:], strict=False) if a.fused_score == b.fused_score]
    assert ties, "the library was built to produce equal fused scores"
    for a, b in ties:
        key_a = (a.dense_rank or 1 << 30, a.lexical_rank or 1 << 30, a.chunk_id)
        key_b = (b.dense_rank or 1 << 30, b.lexical_rank or 1 << 30, b.chunk_id)
        assert key_a < key_b


def test_only_top_k_rows_leave_the_database(library: PgVectorStore) -> None:
    params = Retrieval(retrieval_mode="hybrid", dense_candidates=20, lexical_candidates=20)
    for k in (1, 3):
        assert len(library.search("ann", query_vector(), k, query_text=QUESTION,
                                  params=params)) == k


def test_an_unknown_fusion_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fusion"):
        search_statement("hybrid", "bm25", True, None, "borda")
