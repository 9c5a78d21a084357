"""One search of the store: parameters, the statement of the mode (hybrid search fuses in it),
rows to chunks.

``PgVectorStore.search`` validates its inputs and opens the transaction; ``run_search`` does
the rest on that connection, in one statement (a hybrid search fuses its two candidate lists
in SQL and returns the ``top_k`` best; ``hybrid_prf`` runs three, ``prf_search``).  Every knob
comes from the caller's ``Retrieval``.

A user with at most ``user_rows_limit`` chunks (``user_scan_max_chunks``, more in a large
table) is searched on their own rows (the ``user_id`` index: an exact dense scan, the lexical
match row by row); a larger one through the HNSW and GIN indexes of every user's chunks,
ordered by the expression of whichever HNSW index exists (``vector`` or ``halfvec``:
``sql.schema.HNSW_INDEXES``).  Left to the planner, a small user's lexical search matches the
question's lexemes in every user's chunks through the GIN index first, and a dense search goes
through HNSW and filters row by row whenever the table's statistics are off (right after a bulk
ingest: 6.4 ms median at 10,000 chunks of 200 users against 0.9 ms).
The figures of both ways are in docs/retrieval.md ("A small user is searched on their own rows").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from rag_core.config import Retrieval, fixed
from rag_core.store import sql as q
from rag_core.store.base import FUSED_MODES
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.types import Chunk

if TYPE_CHECKING:
    import numpy as np

    from rag_core.store.pool import Conn


def index_rows(params: Retrieval, top_k: int) -> int:
    """The rows the dense scan must return: ``ef_search`` is never set below it."""
    if params.retrieval_mode == "dense":
        return top_k
    return max(top_k, params.dense_candidates) if params.retrieval_mode in FUSED_MODES else 0


def statement(params: Retrieval, top_k: int, user_id: str, vector: np.ndarray | None,
              query_text: str | None, *, user_rows: bool = False, halfvec: bool = False,
              weighted: Feedback | None = None,
              filters: Filters = NO_FILTERS) -> tuple[Any, dict[str, Any]]:
    """The statement of ``params.retrieval_mode`` and its bind values; ``user_rows``: read the
    user's own rows (exact dense scan, lexical match row by row) instead of the HNSW and GIN indexes
    of every user's chunks; ``halfvec``: the HNSW index is the halfvec one; ``weighted``
    (hybrid only): the feedback pass's lexemes, their weights and the question's own vector;
    ``filters``: only the chunks of the notes that pass them, in every candidate list."""
    dim = len(vector) if halfvec and vector is not None else None
    query = q.search_statement(params.retrieval_mode, params.lexical_ranker, user_rows, dim,
                               params.fusion, weighted is not None, filters.narrows)
    values: dict[str, Any] = {"user_id": user_id, "embedding": vector}
    if filters.narrows:
        values.update(filters.binds())
    lexical = {"query": query_text or "", "k1": float(params.bm25_k1), "b": float(params.bm25_b),
               "metadata_weight": float(fixed.BM25_METADATA_WEIGHT)}
    if weighted is not None:
        lexical.update(lexemes=list(weighted.lexemes), weights=list(weighted.weights),
                       query_embedding=weighted.query_vector)
    if params.retrieval_mode == "dense":
        values["k"] = top_k
    elif params.retrieval_mode == "lexical":
        values.update(lexical, lexical_depth=top_k, has_embedding=vector is not None)
    else:
        values.update(lexical, k=index_rows(params, top_k),
                      lexical_depth=max(top_k, params.lexical_candidates), top_k=top_k,
                      rrf_k=int(params.rrf_k), dense_weight=float(params.fusion_dense_weight),
                      lexical_weight=float(params.fusion_lexical_weight))
    return query, values


def searched_mode(params: Retrieval, user_chunks: int) -> str:
    """The mode a search runs in: ``auto`` is ``hybrid_prf`` for a library of at least
    ``prf_min_chunks`` chunks and ``hybrid`` below (feedback takes the first pass's best chunks
    as relevant: in a few dozen notes the second and third best are about something else)."""
    if params.retrieval_mode != "auto":
        return params.retrieval_mode
    return "hybrid_prf" if user_chunks >= params.prf_min_chunks else "hybrid"


def run_search(conn: Conn, user_id: str, vector: np.ndarray | None,
               top_k: int, query_text: str | None, params: Retrieval,
               filters: Filters = NO_FILTERS) -> list[Chunk]:
    ef = max(params.hnsw_ef_search, index_rows(params, top_k))
    row = conn.execute(q.SET_SEARCH_PARAMS, (str(ef), params.iterative_scan,
                                             str(max(fixed.HNSW_MAX_SCAN_TUPLES, ef)), user_id)
                       ).fetchone()
    user_chunks = int(row[3] or 0) if row is not None else 0
    halfvec = bool(row[4]) if row is not None else False
    limit = user_rows_limit(params, float(row[5] or 0.0) if row is not None else 0.0)
    rows = user_chunks <= limit
    trace.get_current_span().set_attributes({"search.user_chunks": user_chunks,
                                             "search.user_rows": rows,
                                             "search.user_rows_limit": limit,
                                             "search.halfvec_index": halfvec,
                                             "search.filtered": filters.narrows})
    mode = searched_mode(params, user_chunks)
    if params.retrieval_mode == "auto":
        trace.get_current_span().set_attribute("search.feedback", mode == "hybrid_prf")
    if mode == "hybrid_prf" and vector is not None:
        return prf_search(conn, user_id, vector, top_k, query_text, params,
                          user_rows=rows, halfvec=halfvec, filters=filters)
    searched = params.with_(retrieval_mode="hybrid" if mode == "hybrid_prf" else mode)
    query, values = statement(searched, top_k, user_id, vector, query_text,
                              user_rows=rows, halfvec=halfvec, filters=filters)
    return to_chunks(conn.execute(query, values).fetchall())


@dataclass(frozen=True)
class Feedback:
    """The second pass of ``hybrid_prf``: weighted lexemes and the question's own vector."""

    lexemes: tuple[str, ...]
    weights: tuple[float, ...]
    query_vector: np.ndarray


def feedback_weights(question: Sequence[str], terms: Sequence[str], mass: Sequence[float],
                     query_weight: float) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """RM3's query: the question's lexemes share ``query_weight`` equally, the feedback
    lexemes share the rest in proportion to ``mass``; a lexeme in both adds its two parts.
    Lexemes in code-point order (the statement finds a weight by the lexeme's place)."""
    weights: dict[str, float] = {}
    own = list(dict.fromkeys(question))
    for lexeme in own:
        weights[lexeme] = query_weight / len(own)
    total = float(sum(mass))
    rest = 1.0 - query_weight if own else 1.0
    if total > 0:
        for lexeme, m in zip(terms, mass, strict=True):
            weights[lexeme] = weights.get(lexeme, 0.0) + rest * float(m) / total
    order = tuple(sorted(weights))
    return order, tuple(weights[t] for t in order)


def prf_search(conn: Conn, user_id: str, vector: np.ndarray, top_k: int,
               query_text: str | None, params: Retrieval, *, user_rows: bool,
               halfvec: bool, filters: Filters = NO_FILTERS) -> list[Chunk]:
    """``hybrid_prf``: a hybrid pass (fused by ``prf_first_fusion`` with the ``prf_first_*``
    weights) for the ``fixed.PRF_DOCS`` best chunks, their feedback (``sql.PRF_FEEDBACK``),
    then a hybrid pass with the expanded vector (the question's, unit length, plus
    ``fixed.PRF_VECTOR_WEIGHT`` times the chunks' mean) and the RM3 lexemes, fused with
    ``fixed.PRF_RRF_K`` and ``fixed.PRF_LEXICAL_WEIGHT``: three statements in the search's
    transaction.
    When the first pass finds nothing, its answer stands. ``filters`` narrow both passes (the
    feedback comes from the first pass's chunks, which passed them)."""
    import numpy as np

    first = params.with_(retrieval_mode="hybrid", fusion=params.prf_first_fusion,
                         fusion_dense_weight=params.prf_first_dense_weight,
                         fusion_lexical_weight=params.prf_first_lexical_weight)
    query, values = statement(first, fixed.PRF_DOCS, user_id, vector, query_text,
                              user_rows=user_rows, halfvec=halfvec, filters=filters)
    ids = [str(r[0]) for r in conn.execute(query, values).fetchall()]
    if not ids:
        return []
    row = conn.execute(q.PRF_FEEDBACK, {"user_id": user_id, "ids": ids,
                                        "terms": fixed.PRF_TERMS,
                                        "query": query_text or ""}).fetchone()
    assert row is not None  # an aggregate-only SELECT returns one row
    mean, terms, mass, question = row
    lexemes, weights = feedback_weights(question or (), terms or (), mass or (),
                                        fixed.PRF_QUERY_WEIGHT)
    own = np.asarray(vector, dtype=np.float32)
    expanded = own / max(float(np.linalg.norm(own)), 1e-12)
    if mean is not None:
        expanded = expanded + fixed.PRF_VECTOR_WEIGHT * np.asarray(
            mean.to_numpy() if hasattr(mean, "to_numpy") else mean, dtype=np.float32)
    second = params.with_(retrieval_mode="hybrid", rrf_k=fixed.PRF_RRF_K,
                          fusion_lexical_weight=fixed.PRF_LEXICAL_WEIGHT)
    query, values = statement(second, top_k, user_id, expanded.astype(np.float32), None,
                              user_rows=user_rows, halfvec=halfvec,
                              weighted=Feedback(lexemes, weights, own), filters=filters)
    return to_chunks(conn.execute(query, values).fetchall())


def user_rows_limit(params: Retrieval, table_chunks: float) -> int:
    """The most chunks a user may have to be searched on their own rows:
    ``max(user_scan_max_chunks, sqrt(user_scan_scale * table_chunks))``. A filtered index scan
    visits about ``ef_search / share`` rows to find the user's nearest, a scan of own rows
    reads each of the user's rows once, so their break-even grows with the square root of the
    table (recorded on the span as ``search.user_rows_limit``)."""
    grown = math.isqrt(int(max(params.user_scan_scale, 0.0) * max(table_chunks, 0.0)))
    return max(params.user_scan_max_chunks, grown)


def to_chunks(rows: Sequence[Sequence[Any]]) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=r[0],
            note_id=r[1],
            user_id=r[2],
            ordinal=int(r[3]),
            text=r[4],
            metadata=dict(r[5] or {}),
            score=float(r[6]),
            dense_rank=None if r[7] is None else int(r[7]),
            lexical_rank=None if r[8] is None else int(r[8]),
            lexical_score=None if r[9] is None else float(r[9]),
            matched_terms=tuple(r[10] or ()),
            fused_score=float(r[11]) if len(r) > 11 else None,
        )
        for r in rows
    ]
