"""Fusion of the dense and lexical candidate lists of a hybrid search (pure functions).

The in-memory store hands over every candidate with its cosine similarity (``Chunk.score``),
its rank in the dense list and in the lexical list (``None`` when absent from that list) and
its lexical score.  ``PgVectorStore`` applies the same rule in its statement
(``rag_core.store.sql.search._FUSED``), so that only the ``top_k`` rows leave PostgreSQL;
tests/integration/test_fusion_sql.py holds the two equal.  Two methods:

- ``rrf``: reciprocal-rank fusion, ``dense_weight / (rrf_k + dense_rank) + lexical_weight /
  (rrf_k + lexical_rank)``, a list the chunk is absent from adding nothing;
- ``score``: ``dense_weight * norm(cosine) + lexical_weight * norm(lexical score)``, each
  min-max normalised over the candidates (a chunk outside the lexical list counts 0 there).

Ties go to the better dense rank, then the better lexical rank, then the chunk id, so the order
is deterministic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rag_core.config import Retrieval
from rag_core.types import Chunk

_NO_RANK = 1 << 30


def rrf_scores(chunks: Sequence[Chunk], rrf_k: int, dense_weight: float = 1.0,
               lexical_weight: float = 1.0) -> list[float]:
    """Weighted reciprocal-rank fusion score of each candidate."""
    out = []
    for c in chunks:
        value = 0.0
        if c.dense_rank is not None:
            value += dense_weight / (rrf_k + c.dense_rank)
        if c.lexical_rank is not None:
            value += lexical_weight / (rrf_k + c.lexical_rank)
        out.append(value)
    return out


def _minmax(values: Sequence[float | None]) -> list[float]:
    present = [v for v in values if v is not None]
    if not present:
        return [0.0 for _ in values]
    lo, hi = min(present), max(present)
    span = hi - lo
    return [0.0 if v is None else (1.0 if span == 0 else (v - lo) / span) for v in values]


def score_fusion(chunks: Sequence[Chunk], dense_weight: float = 1.0,
                 lexical_weight: float = 1.0) -> list[float]:
    """Weighted sum of min-max normalised cosine and lexical scores of each candidate."""
    dense = _minmax([c.score for c in chunks])
    lexical = _minmax([c.lexical_score if c.lexical_rank is not None else None for c in chunks])
    return [dense_weight * d + lexical_weight * lx for d, lx in zip(dense, lexical, strict=True)]


def fuse(chunks: Sequence[Chunk], params: Retrieval, top_k: int) -> list[Chunk]:
    """The ``top_k`` best candidates by ``params.fusion``, each with its ``fused_score``."""
    if params.fusion == "rrf":
        scores = rrf_scores(chunks, params.rrf_k, params.fusion_dense_weight,
                            params.fusion_lexical_weight)
    elif params.fusion == "score":
        scores = score_fusion(chunks, params.fusion_dense_weight, params.fusion_lexical_weight)
    else:
        raise ValueError(f"unknown fusion {params.fusion!r}; expected 'rrf' or 'score'")
    order = sorted(
        range(len(chunks)),
        key=lambda i: (-scores[i],
                       chunks[i].dense_rank if chunks[i].dense_rank is not None else _NO_RANK,
                       chunks[i].lexical_rank if chunks[i].lexical_rank is not None else _NO_RANK,
                       chunks[i].chunk_id))
    return [dataclasses.replace(chunks[i], fused_score=scores[i]) for i in order[:top_k]]
