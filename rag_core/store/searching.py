"""One search of the store: parameters, the statement of the mode, rows to chunks, fusion.

``PgVectorStore.search`` validates its inputs and opens the transaction; ``run_search`` does
the rest on that connection.  Every knob comes from the caller's ``SearchParams``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg

from rag_core.store import sql as q
from rag_core.store.base import SearchParams
from rag_core.store.fusion import fuse
from rag_core.types import Chunk


def statement(params: SearchParams, top_k: int, user_id: str, vector: np.ndarray | None,
              query_text: str | None) -> tuple[Any, dict[str, Any], int]:
    """The statement of ``params.mode``, its bind values, and the rows its index scan needs."""
    if params.lexical_ranker not in q.LEXICAL_RANKERS:
        raise ValueError(f"unknown lexical ranker {params.lexical_ranker!r}; expected one of "
                         f"{q.LEXICAL_RANKERS}")
    values: dict[str, Any] = {"user_id": user_id, "embedding": vector}
    lexical = {"query": query_text or "", "k1": float(params.bm25_k1), "b": float(params.bm25_b),
               "metadata_weight": float(params.metadata_weight)}
    if params.mode == "dense":
        values["k"] = top_k
        return q.SEARCH_DENSE, values, top_k
    if params.mode == "lexical":
        values.update(lexical, lexical_depth=top_k, has_embedding=vector is not None)
        return q.SEARCH_LEXICAL[params.lexical_ranker], values, 0
    dense_depth = max(top_k, params.dense_depth)
    values.update(lexical, k=dense_depth, lexical_depth=max(top_k, params.lexical_depth))
    return q.SEARCH_HYBRID[params.lexical_ranker], values, dense_depth


def run_search(conn: psycopg.Connection[Any], user_id: str, vector: np.ndarray | None,
               top_k: int, query_text: str | None, params: SearchParams) -> list[Chunk]:
    query, values, scan_rows = statement(params, top_k, user_id, vector, query_text)
    ef = max(params.ef_search, scan_rows)  # never fewer candidates than rows to return
    conn.execute(q.SET_SEARCH_PARAMS,
                 (str(ef), params.iterative_scan, str(max(params.max_scan_tuples, ef))))
    chunks = to_chunks(conn.execute(query, values).fetchall())
    return fuse(chunks, params, top_k) if params.mode == "hybrid" else chunks


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
        )
        for r in rows
    ]
