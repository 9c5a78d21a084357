"""Fusion of candidate lists and Retrieval (pure code, hand-computed values)."""

from __future__ import annotations

import pytest

from rag_core.config import Retrieval, Settings
from rag_core.redis_kv.keys import context_key
from rag_core.store.fusion import fuse, rrf_scores, score_fusion
from rag_core.types import Chunk


def hit(cid: str, dense: int | None, lexical: int | None, cos: float = 0.0,
        lex: float | None = None) -> Chunk:
    return Chunk(chunk_id=cid, note_id=cid, user_id="u", ordinal=0, text="", score=cos,
                 dense_rank=dense, lexical_rank=lexical, lexical_score=lex)


def test_rrf_adds_weighted_reciprocal_ranks() -> None:
    hits = [hit("a", 1, None), hit("b", 3, 1), hit("c", None, 2)]
    assert rrf_scores(hits, 60) == pytest.approx([1 / 61, 1 / 63 + 1 / 61, 1 / 62])
    assert rrf_scores(hits, 10, dense_weight=2.0, lexical_weight=0.5) == pytest.approx(
        [2 / 11, 2 / 13 + 0.5 / 11, 0.5 / 12])


def test_score_fusion_normalises_each_list_over_the_candidates() -> None:
    hits = [hit("a", 1, None, cos=0.9), hit("b", 2, 1, cos=0.5, lex=8.0),
            hit("c", None, 2, cos=0.7, lex=2.0), hit("d", None, 3, cos=0.7, lex=4.0)]
    # cosine 0.5..0.9 -> a 1, b 0, c .5, d .5; lexical 2..8 -> b 1, c 0, d 1/3; a absent -> 0
    assert score_fusion(hits) == pytest.approx([1.0, 1.0, 0.5, 0.5 + 1 / 3])
    assert score_fusion(hits, 1.0, 0.0) == pytest.approx([1.0, 0.0, 0.5, 0.5])
    assert score_fusion([hit("a", 1, None, cos=0.3)]) == [1.0]


def test_fuse_orders_cuts_and_breaks_ties_deterministically() -> None:
    hits = [hit("c", None, 1), hit("a", 1, None), hit("b", 2, 2)]
    got = fuse(hits, Retrieval(retrieval_mode="hybrid", rrf_k=60, fusion_lexical_weight=1.0),
               top_k=2)
    assert [c.chunk_id for c in got] == ["b", "a"]  # b in both lists; a ties c, dense first
    assert got[0].fused_score == pytest.approx(1 / 62 + 1 / 62)
    lexical_first = fuse(hits, Retrieval(rrf_k=60, fusion_lexical_weight=1.5), top_k=3)
    assert [c.chunk_id for c in lexical_first] == ["b", "c", "a"]
    with pytest.raises(ValueError):
        fuse(hits, Retrieval(fusion="other"), top_k=1)  # type: ignore[arg-type]


def test_the_store_receives_the_retrieval_section_and_every_knob_changes_the_key() -> None:
    s = Settings(rrf_k=30, hnsw_ef_search=80, fusion="score", fusion_lexical_weight=0.5,
                 dense_candidates=7, lexical_candidates=9, bm25_k1=0.9, bm25_b=0.4,
                 lexical_ranker="ts_rank_cd", retrieval_mode="lexical")
    p = s.retrieval
    assert p is s.retrieval and isinstance(p, Retrieval)
    assert (p.rrf_k, p.hnsw_ef_search, p.fusion, p.fusion_lexical_weight, p.dense_candidates,
            p.lexical_candidates, p.bm25_k1, p.bm25_b, p.lexical_ranker, p.retrieval_mode) == (
        30, 80, "score", 0.5, 7, 9, 0.9, 0.4, "ts_rank_cd", "lexical")
    assert s.retrieval.with_(rrf_k=5).rrf_k == 5
    key = context_key(p, "u", 1, "q", 5)
    assert context_key(p, "u", 1, "q", 5, numerics="openvino-bf16") != key
    changed = {"retrieval_mode": "hybrid", "iterative_scan": "off", "lexical_ranker": "bm25",
               "fusion": "rrf", "prf_first_fusion": "rrf"}
    for name, value in p.model_dump().items():
        bumped = (value if isinstance(value, str) else value + 0.1 if value < 1
                  else value - 1)
        other = p.with_(**{name: changed.get(name, bumped)})
        assert context_key(other, "u", 1, "q", 5) != key, name
