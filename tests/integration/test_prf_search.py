"""``hybrid_prf``: hybrid search with pseudo-relevance feedback (``rag_core.store.searching
.prf_search``) on a real PostgreSQL + pgvector.

A small library where the question's words are in a few notes and other notes speak of the same
thing only in the words those few add: feedback must bring the others into the lexical list,
keep ``score`` the cosine to the question's own vector, and with no feedback at all rank exactly
as hybrid does.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from rag_core.config import Retrieval, fixed
from rag_core.store import ChunkDraft
from rag_core.store.memory import MemoryStore
from rag_core.store.pgvector import PgVectorStore
from rag_core.store.searching import feedback_weights
from rag_core.types import Note

pytestmark = pytest.mark.integration

DIM = 384
QUESTION = "the shepherd and his flock"
TEXTS = (
    [f"The shepherd keeps the flock by still waters and green pastures ({i})." for i in range(3)]
    + [f"Still waters and green pastures restore the soul ({i})." for i in range(3)]
    + [f"The harvest of the vineyard in the valley of Jordan ({i})." for i in range(14)]
)
PASTURES = {f"n{i:02d}" for i in range(3, 6)}  # no word of the question


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def library(store: PgVectorStore) -> tuple[PgVectorStore, np.ndarray, np.ndarray]:
    """20 notes of one user; the question's vector sits nearest the shepherd notes."""
    rng = np.random.default_rng(11)
    vectors = unit(rng.normal(size=(len(TEXTS), DIM)))
    question = unit(vectors[:3].mean(axis=0) + 0.3 * unit(rng.normal(size=DIM)))
    for i, text in enumerate(TEXTS):
        store.upsert_note("ann", Note(id=f"n{i:02d}", title="", body=text), f"h{i}",
                          [ChunkDraft(0, text, hashlib.sha1(text.encode()).hexdigest())],
                          vectors[i:i + 1])
    return store, question, vectors


def params(own_rows: bool, **changes: object) -> Retrieval:
    return Retrieval(retrieval_mode="hybrid_prf", hnsw_ef_search=100, dense_candidates=10,
                        lexical_candidates=10,
                        user_scan_max_chunks=1_000 if own_rows else 0, user_scan_scale=0.0,
                        ).with_(**changes)


def feedback(monkeypatch: pytest.MonkeyPatch, **values: float) -> None:
    """The feedback pass's fixed values for one test (``fixed.PRF_DOCS``, ...)."""
    for name, value in values.items():
        monkeypatch.setattr(fixed, f"PRF_{name.upper()}", value)


@pytest.mark.parametrize("own_rows", [True, False])
def test_feedback_finds_notes_in_the_words_of_the_best_ones(library, own_rows: bool,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    store, question, _ = library
    feedback(monkeypatch, docs=3, terms=20)
    hybrid = store.search("ann", question, 20, query_text=QUESTION,
                          params=params(own_rows, retrieval_mode="hybrid"))
    prf = store.search("ann", question, 20, query_text=QUESTION,
                       params=params(own_rows))
    lexical = {c.note_id for c in hybrid if c.lexical_rank is not None}
    assert lexical.isdisjoint(PASTURES)  # the question's words are not in them
    fed = {c.note_id for c in prf if c.lexical_rank is not None}
    assert fed >= PASTURES
    assert all(c.lexical_rank is None for c in prf if c.note_id.startswith("n1"))


@pytest.mark.parametrize("own_rows", [True, False])
def test_score_stays_the_cosine_to_the_question(library, own_rows: bool,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store, question, vectors = library
    feedback(monkeypatch, vector_weight=2.0)
    got = store.search("ann", question, 8, query_text=QUESTION, params=params(own_rows))
    assert len(got) == 8
    for c in got:
        assert c.score == pytest.approx(float(vectors[int(c.note_id[1:])] @ question), abs=1e-5)


@pytest.mark.parametrize("own_rows", [True, False])
def test_without_feedback_it_ranks_as_hybrid(library, own_rows: bool,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # no feedback lexemes, no vector added, the question's lexemes alone (weights 1/n each,
    # the same order) and hybrid's fusion: the same chunks, ranks and cosines
    store, question, _ = library
    base = params(own_rows, rrf_k=7, fusion_lexical_weight=1.5)
    hybrid = store.search("ann", question, 12, query_text=QUESTION,
                          params=base.with_(retrieval_mode="hybrid"))
    feedback(monkeypatch, terms=0, vector_weight=0.0, query_weight=1.0, rrf_k=7,
             lexical_weight=1.5)
    prf = store.search("ann", question, 12, query_text=QUESTION, params=base)
    assert [c.chunk_id for c in prf] == [c.chunk_id for c in hybrid]
    n = len(store.query_lexemes(QUESTION))
    for p, h in zip(prf, hybrid, strict=True):
        assert (p.dense_rank, p.lexical_rank) == (h.dense_rank, h.lexical_rank)
        assert p.score == pytest.approx(h.score, abs=1e-6)
        if h.lexical_score is not None:
            assert p.lexical_score == pytest.approx(h.lexical_score / n, rel=1e-9)


@pytest.mark.parametrize("own_rows", [True, False])
def test_auto_feeds_back_only_in_a_library_above_its_size(library, own_rows: bool,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    # the library has 20 chunks: auto feeds back from a floor of 20 on, below it is hybrid
    store, question, _ = library
    feedback(monkeypatch, terms=20)

    def ids(**changes: object) -> list[tuple[str, int | None, int | None]]:
        got = store.search("ann", question, 12, query_text=QUESTION,
                           params=params(own_rows, **changes))
        return [(c.chunk_id, c.dense_rank, c.lexical_rank) for c in got]

    hybrid, prf = ids(retrieval_mode="hybrid"), ids()
    assert hybrid != prf
    assert ids(retrieval_mode="auto", prf_min_chunks=21) == hybrid
    assert ids(retrieval_mode="auto", prf_min_chunks=20) == prf


def test_nothing_found_stays_nothing(store: PgVectorStore) -> None:
    assert store.search("nobody", unit(np.ones(DIM)), 5, query_text=QUESTION,
                        params=params(True)) == []


def test_the_memory_store_searches_it_as_hybrid() -> None:
    mem = MemoryStore()
    rng = np.random.default_rng(3)
    vectors = unit(rng.normal(size=(6, DIM)))
    for i in range(6):
        text = TEXTS[i * 3]
        mem.upsert_note("ann", Note(id=f"m{i}", title="", body=text), f"h{i}",
                        [ChunkDraft(0, text, f"c{i}")], vectors[i:i + 1])
    q = vectors[0]
    hybrid = mem.search("ann", q, 4, query_text=QUESTION,
                        params=params(True, retrieval_mode="hybrid"))
    prf = mem.search("ann", q, 4, query_text=QUESTION, params=params(True))
    assert [c.chunk_id for c in prf] == [c.chunk_id for c in hybrid]


def test_rm3_weights() -> None:
    lexemes, weights = feedback_weights(["flock", "shepherd"], ["pastur", "flock", "water"],
                                        [0.5, 0.3, 0.2], 0.6)
    got = dict(zip(lexemes, weights, strict=True))
    assert list(lexemes) == sorted(lexemes)
    assert got["shepherd"] == pytest.approx(0.3)
    assert got["flock"] == pytest.approx(0.3 + 0.4 * 0.3)
    assert got["pastur"] == pytest.approx(0.4 * 0.5)
    assert sum(weights) == pytest.approx(1.0)
    # a question without lexemes: the feedback carries all the weight
    _, alone = feedback_weights([], ["a", "b"], [1.0, 3.0], 0.6)
    assert alone == pytest.approx((0.25, 0.75))
    assert feedback_weights([], [], [], 0.5) == ((), ())
