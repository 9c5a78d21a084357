"""Search statements: the dense scan, the two lexical rankers, the candidate lists and their
fusion.

Every store search returns the same columns::

    chunk_id, note_id, user_id, ordinal, text, metadata,
    score, dense_rank, lexical_rank, lexical_score, terms

and hybrid search one more, ``fused`` (the fused score).  ``score`` is the cosine similarity to
the query vector (the lexical score when a lexical search has no vector); ``terms`` are the
question's lexemes found in the chunk.  Hybrid search fuses its two candidate lists as
``rag_core.store.fusion`` does (``_FUSED``) and returns the ``top_k`` best.

The dense scan is built by ``knn_scan`` for any table with ``embedding`` and ``user_id``
columns, so the retrieval benchmark times exactly the store's scan on its own tables.

Lexical ranking (``Settings.lexical_ranker``):

- ``bm25``: Okapi BM25 per user.  For each of the question's lexemes ``t`` found in chunk ``c``
  ``idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(c) / avglen))`` summed, with
  ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))`` (never negative), ``N`` the user's chunks,
  ``df`` from ``lexeme_stats`` and ``avglen`` from ``user_lexical_stats``.  ``tf`` counts the
  lexeme's positions in the stored tsvector, a metadata (weight A) position counting
  ``metadata_weight`` times; ``len(c)`` is ``chunks.lex_len``.  The stored tsvectors carry
  weights A and B only, so ``setweight(tsv, 'D', lexemes)`` then ``ts_filter(.., '{d}')``
  leaves exactly the question's lexemes with their positions: each candidate unnests a few
  lexemes instead of all of them (2-3x faster than filtering ``unnest(tsv)``).
- ``ts_rank_cd``: PostgreSQL's cover density (kept for comparison; no document frequencies).

Candidates are the chunks whose tsvector matches the OR of the question's lexemes: through the
GIN index of every user's chunks, or, for a user with few chunks, row by row among that user's
own rows (``user_rows``; ``knn_scan`` likewise reads them for an exact dense scan).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from psycopg import sql

from rag_core.store.sql.filtering import filter_predicate
from rag_core.store.sql.hnsw import HNSW_INDEXES

LEXICAL_RANKERS = ("bm25", "ts_rank_cd")

# set_config(..., true) is SET LOCAL with bind parameters: it ends with the transaction.
# It also reads the user's number of chunks and the table's (the planner's estimate: no scan),
# which decide between the user's own rows and the shared HNSW and GIN indexes
# (``rag_core.store.searching``), and whether the HNSW index is the halfvec one
# (``schema.HNSW_INDEXES``), in the same round trip.
SET_SEARCH_PARAMS = sql.SQL(
    """
    SELECT set_config('hnsw.ef_search', %s, true),
           set_config('hnsw.iterative_scan', %s, true),
           set_config('hnsw.max_scan_tuples', %s, true),
           (SELECT s.chunks FROM user_lexical_stats s WHERE s.user_id = %s),
           to_regclass({halfvec_index}) IS NOT NULL,
           (SELECT greatest(c.reltuples, 0)::float8 FROM pg_class c
            WHERE c.oid = 'chunks'::regclass)
    """
).format(halfvec_index=sql.Literal(HNSW_INDEXES["halfvec"]))

CHUNK_COLUMNS = ("chunk_id", "note_id", "user_id", "ordinal", "text", "metadata")


def knn_scan(table: str = "chunks", columns: Sequence[str] = ("chunk_id",), *,
             per_user: bool = True, user_rows: bool = False,
             halfvec_dim: int | None = None, filtered: bool = False) -> sql.Composed:
    """The k rows nearest to ``%(embedding)s`` by cosine distance (``%(k)s`` of them), of
    ``%(user_id)s`` when ``per_user``; the scan that every dense search runs.

    ``user_rows`` (per user only): the user's rows by the ``user_id`` index, then sorted by
    distance: exact. The ``OFFSET 0`` keeps the ordering out of the subquery, so the planner
    cannot turn it into an HNSW index scan; it would otherwise pick the HNSW scan for a small
    user (its row estimate is global) and filter it row by row, scanning thousands of other
    users' rows to find k of this one's.

    ``halfvec_dim``: the scan orders by the half-precision distance, the expression of the
    ``halfvec`` HNSW index (``hnsw_index``), so that the planner can use that index. The
    ``distance`` column is still the full-precision one, so callers that order by it re-rank
    the k rows exactly.

    ``filtered`` (per user only): only the rows whose note passes the caller's filters
    (``filter_predicate``), in the scan itself: on the user's rows, or through the HNSW index,
    whose iterative scan goes on until it has found k such rows (or ``max_scan_tuples``).
    """
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    if filtered and not per_user:
        raise ValueError("a filtered scan is per user")
    only = sql.SQL(" AND " + filter_predicate() if filtered else "")
    if user_rows:
        if not per_user:
            raise ValueError("a scan of the user's rows is per user")
        return sql.SQL(
            "SELECT {cols}, embedding <=> %(embedding)s AS distance FROM "
            "(SELECT {cols}, embedding FROM {table} WHERE user_id = %(user_id)s{only} OFFSET 0)"
            " AS mine ORDER BY distance LIMIT %(k)s"
        ).format(cols=cols, table=sql.Identifier(table), only=only)
    where = sql.SQL("WHERE user_id = %(user_id)s{only} ").format(only=only) if per_user \
        else sql.SQL("")
    order = sql.SQL("distance") if halfvec_dim is None else sql.SQL(
        "embedding::halfvec({d}) <=> %(embedding)s::halfvec({d})").format(
        d=sql.Literal(int(halfvec_dim)))
    return sql.SQL(
        "SELECT {cols}, embedding <=> %(embedding)s AS distance FROM {table} {where}"
        "ORDER BY {order} LIMIT %(k)s"
    ).format(cols=cols, table=sql.Identifier(table), where=where, order=order)


def knn_ids(table: str, id_column: str, *, per_user: bool, user_rows: bool = False,
            halfvec_dim: int | None = None) -> sql.Composed:
    """Ids of ``knn_scan``, nearest first, with the materialised CTE pgvector recommends for
    iterative scans (the benchmark's form of the dense search)."""
    scan = knn_scan(table, (id_column,), per_user=per_user, user_rows=user_rows,
                    halfvec_dim=halfvec_dim)
    return sql.SQL("WITH d AS MATERIALIZED ({scan}) SELECT {id} FROM d ORDER BY distance"
                   ).format(scan=scan, id=sql.Identifier(id_column))


# --- lexical candidate lists: CTEs q (tsquery, lexemes) and l (chunk_id, rank) ---------------

_QUERY_CTE = """
    q AS MATERIALIZED (
        SELECT rag_or_tsquery(%(query)s) AS tq, rag_query_lexemes(%(query)s) AS lex,
               NULL::float8[] AS wt
    )"""

# The same CTE from weighted lexemes (pseudo-relevance feedback: ``rag_core.store.prf``): the
# OR of the given lexemes, built as ``rag_or_tsquery`` builds it, and a weight per lexeme that
# multiplies its BM25 term (an unweighted search multiplies by 1).
_WEIGHTED_QUERY_CTE = """
    q AS MATERIALIZED (
        SELECT (SELECT rag_tsquery_or_agg(plainto_tsquery('simple', t))
                FROM unnest(%(lexemes)s::text[]) AS t) AS tq,
               %(lexemes)s::text[] AS lex, %(weights)s::float8[] AS wt
    )"""

# The BM25 candidates: the user's chunks that match the question (``{match}``), each read once
# for the question's lexemes in the whole chunk (``qv``) and in its metadata (``qa``, weight A).
# The OFFSET 0 keeps the subquery whole, so that each chunk's tsvector is filtered once rather
# than once per use, and the idf of a lexeme is read from an array in the order of ``q.lex``
# instead of a join per (chunk, lexeme): BM25 p99 on own rows at 10,000 chunks went from
# 3.6-3.8 to 2.3-2.8 ms (README, "Retrieval").
_BM25_CTES = _QUERY_CTE + """,
    st AS MATERIALIZED (
        SELECT s.chunks::float8 AS n, s.total_length::float8 / greatest(s.chunks, 1) AS avglen
        FROM user_lexical_stats s WHERE s.user_id = %(user_id)s
    ),
    w AS MATERIALIZED (
        SELECT array_agg(ln(1 + (st.n - coalesce(ls.df, 0) + 0.5) / (coalesce(ls.df, 0) + 0.5))
                         ORDER BY x.i) AS idf
        FROM q CROSS JOIN st CROSS JOIN LATERAL unnest(q.lex) WITH ORDINALITY AS x(lexeme, i)
        LEFT JOIN lexeme_stats ls ON ls.user_id = %(user_id)s AND ls.lexeme = x.lexeme
    ),
    cand AS (
        SELECT x.chunk_id, x.lex_len,
               ts_filter(setweight(x.tsv, 'D', q.lex), '{{d}}') AS qv,
               ts_filter(setweight(ts_filter(x.tsv, '{{a}}'), 'D', q.lex), '{{d}}') AS qa
        FROM chunks x CROSS JOIN q
        WHERE x.user_id = %(user_id)s AND {match} OFFSET 0
    ),
    m AS (
        SELECT cand.chunk_id, cand.lex_len, t.lexeme, t.tf
        FROM cand CROSS JOIN LATERAL (
            SELECT a.lexeme, cardinality(a.positions) + (%(metadata_weight)s - 1.0)
                       * coalesce(cardinality(x.positions), 0) AS tf
            FROM unnest(cand.qv) AS a
            LEFT JOIN unnest(CASE WHEN length(cand.qa) > 0 THEN cand.qa END) AS x USING (lexeme)
        ) AS t
    ),
    l AS MATERIALIZED (
        SELECT m.chunk_id,
               sum(w.idf[array_position(q.lex, m.lexeme)]
                   * coalesce(q.wt[array_position(q.lex, m.lexeme)], 1.0) * m.tf * (%(k1)s + 1.0)
                   / (m.tf + %(k1)s * (1.0 - %(b)s + %(b)s * m.lex_len / st.avglen))) AS rank
        FROM m CROSS JOIN w CROSS JOIN st CROSS JOIN q
        GROUP BY m.chunk_id
        ORDER BY rank DESC, m.chunk_id
        LIMIT %(lexical_depth)s
    )"""

_TS_RANK_CD_CTES = _QUERY_CTE + """,
    l AS MATERIALIZED (
        SELECT c.chunk_id, ts_rank_cd(c.tsv, q.tq, 33)::float8 AS rank
        FROM chunks c CROSS JOIN q
        WHERE c.user_id = %(user_id)s AND c.tsv @@ q.tq{only}
        ORDER BY rank DESC, c.chunk_id
        LIMIT %(lexical_depth)s
    )"""

# ``ts_rank_cd``'s candidates among the user's rows (see ``_lexical_ctes``).
_USER_ROWS = ("(SELECT x.chunk_id, x.note_id, x.user_id, x.lex_len, x.tsv, x.metadata "
              "FROM chunks x "
              "CROSS JOIN q "
              "WHERE x.user_id = %(user_id)s AND ts_match_vq(x.tsv, q.tq) OFFSET 0) AS c")


def _lexical_ctes(ranker: str, user_rows: bool, weighted: bool = False,
                  filtered: bool = False) -> sql.SQL:
    """The CTEs q and l of ``ranker``; ``user_rows``: candidates matched row by row among the
    user's chunks instead of through the GIN index; ``weighted``: the query is weighted lexemes
    (``%(lexemes)s``, ``%(weights)s``) instead of a text (BM25 weighs each term; ``ts_rank_cd``
    matches the lexemes unweighted); ``filtered``: only the candidates whose note passes the
    caller's filters (``filter_predicate``)."""
    if ranker == "bm25":
        # ``ts_match_vq`` is the function of ``@@``: unlike the operator, the GIN index of every
        # user's chunks cannot serve it, so the user_id index reads the user's rows.
        match = "ts_match_vq(x.tsv, q.tq)" if user_rows else "x.tsv @@ q.tq"
        if filtered:
            match += " AND " + filter_predicate("x")
        ctes = _BM25_CTES.format(match=match)
    else:
        ctes = _TS_RANK_CD_CTES.format(only=" AND " + filter_predicate("c") if filtered else "")
    if weighted:
        ctes = ctes.replace(_QUERY_CTE, _WEIGHTED_QUERY_CTE)
    if ranker == "bm25":
        return sql.SQL(ctes)
    if user_rows:
        ctes = ctes.replace("FROM chunks c CROSS JOIN q", f"FROM {_USER_ROWS} CROSS JOIN q")
    return sql.SQL(ctes)

# The question's lexemes found in chunk c (for --explain), computed on the few returned rows.
_TERMS = "tsvector_to_array(ts_filter(setweight(c.tsv, 'D', q.lex), '{d}'))"

# --- the three searches ---------------------------------------------------------------------

# The materialised CTE keeps the (possibly index-driven, relaxed-order) scan separate from the
# final exact ordering, as pgvector recommends for iterative scans.
def _dense(user_rows: bool, halfvec_dim: int | None, filtered: bool = False) -> sql.Composed:
    return sql.SQL(
        """
        WITH d AS MATERIALIZED ({scan})
        SELECT chunk_id, note_id, user_id, ordinal, text, metadata,
               1 - distance AS score,
               row_number() OVER (ORDER BY distance, chunk_id) AS dense_rank,
               NULL::bigint AS lexical_rank, NULL::float8 AS lexical_score, NULL::text[] AS terms
        FROM d
        ORDER BY distance, chunk_id
        """
    ).format(scan=knn_scan("chunks", CHUNK_COLUMNS, user_rows=user_rows,
                           halfvec_dim=halfvec_dim, filtered=filtered))


def _lexical(ranker: str, user_rows: bool, filtered: bool = False) -> sql.Composed:
    # Without a query vector the score is the lexical score (there is no cosine to give).
    return sql.SQL(
        """
        WITH {ctes}
        SELECT c.chunk_id, c.note_id, c.user_id, c.ordinal, c.text, c.metadata,
               CASE WHEN %(has_embedding)s THEN 1 - (c.embedding <=> %(embedding)s)
                    ELSE l.rank END AS score,
               NULL::bigint AS dense_rank,
               row_number() OVER (ORDER BY l.rank DESC, l.chunk_id) AS lexical_rank,
               l.rank AS lexical_score, {terms} AS terms
        FROM l JOIN chunks c ON c.chunk_id = l.chunk_id AND c.user_id = %(user_id)s
        CROSS JOIN q
        ORDER BY l.rank DESC, l.chunk_id
        """
    ).format(ctes=_lexical_ctes(ranker, user_rows, filtered=filtered), terms=sql.SQL(_TERMS))


# How a hybrid search ranks its candidates (``rag_core.store.fusion`` is the same rule in Python,
# for the in-memory store; tests/integration/test_fusion_sql.py holds the two equal). ``s`` is
# one candidate: its cosine similarity, its rank in each list (NULL when absent) and its
# lexical score; the ties go as in ``fusion.fuse``, chunk ids in code-point order.
_FUSED = {
    "rrf": """coalesce(%(dense_weight)s::float8 / (%(rrf_k)s::int + s.dense_rank), 0)
              + coalesce(%(lexical_weight)s::float8 / (%(rrf_k)s::int + s.lexical_rank), 0)""",
    "score": """%(dense_weight)s::float8 * CASE
                  WHEN max(s.score) OVER () = min(s.score) OVER () THEN 1.0
                  ELSE (s.score - min(s.score) OVER ())
                       / (max(s.score) OVER () - min(s.score) OVER ()) END
              + %(lexical_weight)s::float8 * CASE
                  WHEN s.lexical_rank IS NULL THEN 0.0
                  WHEN max(s.lexical_score) OVER () = min(s.lexical_score) OVER () THEN 1.0
                  ELSE (s.lexical_score - min(s.lexical_score) OVER ())
                       / (max(s.lexical_score) OVER () - min(s.lexical_score) OVER ()) END""",
}
FUSIONS = tuple(_FUSED)
_FUSED_ORDER = ("{f}fused DESC, {t}.dense_rank NULLS LAST, {t}.lexical_rank NULLS LAST, "
                '{t}.chunk_id COLLATE "C"')


def _hybrid(ranker: str, user_rows: bool, halfvec_dim: int | None, fusion: str,
            weighted: bool = False, filtered: bool = False) -> sql.Composed:
    """Both candidate lists, each with its own depth, fused here: only the ``top_k`` best
    rows leave the database (``weighted``: the lexical query is weighted lexemes and
    ``%(query_embedding)s`` the vector that ``score`` is the cosine to). Returning every
    candidate's text and metadata and fusing them in Python took 1.6 times as long at the
    median (README, "Retrieval")."""
    return sql.SQL(
        """
        WITH {ctes},
        d AS MATERIALIZED ({scan}),
        dr AS (
            SELECT chunk_id, distance, row_number() OVER (ORDER BY distance, chunk_id) AS rnk
            FROM d
        ),
        lr AS (
            SELECT chunk_id, rank, row_number() OVER (ORDER BY rank DESC, chunk_id) AS rnk
            FROM l
        ),
        s AS (
            SELECT coalesce(dr.chunk_id, lr.chunk_id) AS chunk_id,
                   1 - coalesce(dr.distance, (SELECT x.embedding <=> %(embedding)s
                                              FROM chunks x WHERE x.chunk_id = lr.chunk_id))
                       AS score,
                   dr.rnk AS dense_rank, lr.rnk AS lexical_rank, lr.rank AS lexical_score
            FROM dr FULL OUTER JOIN lr ON dr.chunk_id = lr.chunk_id
        ),
        f AS (
            SELECT s.*, {fused} AS fused FROM s ORDER BY {order_s} LIMIT %(top_k)s
        )
        SELECT c.chunk_id, c.note_id, c.user_id, c.ordinal, c.text, c.metadata, {score},
               f.dense_rank, f.lexical_rank, f.lexical_score, {terms} AS terms, f.fused
        FROM f JOIN chunks c ON c.chunk_id = f.chunk_id AND c.user_id = %(user_id)s
        CROSS JOIN q
        ORDER BY {order_f}
        """
    ).format(ctes=_lexical_ctes(ranker, user_rows, weighted, filtered),
             scan=knn_scan("chunks", ("chunk_id",), user_rows=user_rows,
                           halfvec_dim=halfvec_dim, filtered=filtered),
             fused=sql.SQL(_FUSED[fusion]),
             # the feedback pass searches with an expanded vector; ``score`` stays the cosine
             # similarity to the question's own vector
             score=sql.SQL("1 - (c.embedding <=> %(query_embedding)s) AS score" if weighted
                           else "f.score"),
             order_s=sql.SQL(_FUSED_ORDER.format(f="", t="s")),  # fused: the output column
             order_f=sql.SQL(_FUSED_ORDER.format(f="f.", t="f")),
             terms=sql.SQL(_TERMS))


@functools.lru_cache(maxsize=64)
def search_statement(mode: str, ranker: str, user_rows: bool,
                     halfvec_dim: int | None = None, fusion: str = "rrf",
                     weighted: bool = False, filtered: bool = False) -> sql.Composed:
    """The statement of a search. ``user_rows``: the user's own rows (a small user: exact
    dense scan, lexical match row by row) instead of the HNSW and GIN indexes of all users'
    chunks; ``halfvec_dim``: the HNSW index is the ``halfvec`` one (``hnsw_index``);
    ``fusion``: how hybrid search ranks its candidates; ``weighted``: a hybrid search whose
    lexical query is weighted lexemes (the second pass of ``hybrid_prf``); ``filtered``: every
    candidate list holds only the chunks of notes that pass the caller's filters (the
    ``f_*`` binds of ``Filters.binds``), so a filter narrows the search instead of the
    results."""
    if ranker not in LEXICAL_RANKERS:
        raise ValueError(f"unknown lexical ranker {ranker!r}; expected one of {LEXICAL_RANKERS}")
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; expected 'rrf' or 'score'")
    dim = None if user_rows else halfvec_dim  # an own-rows scan is exact in full precision
    if mode == "dense":
        return _dense(user_rows, dim, filtered)
    if mode == "lexical":
        return _lexical(ranker, user_rows, filtered)
    if mode == "hybrid":
        return _hybrid(ranker, user_rows, dim, fusion, weighted, filtered)
    raise ValueError(f"unknown retrieval mode {mode!r}")


# --- pseudo-relevance feedback (``hybrid_prf``: rag_core.store.searching.prf_search) ---------

# From the first pass's best chunks (``%(ids)s``, the user's): their mean vector, the
# ``%(terms)s`` lexemes most probable in them (RM3's relevance model with the chunks weighted
# alike: each lexeme's share of its chunk's positions, summed; bare numbers of one to three
# digits left out as in ``rag_query_lexemes``) with those sums, and the question's lexemes.
PRF_FEEDBACK = sql.SQL(
    """
    WITH fb AS MATERIALIZED (
        SELECT chunk_id, tsv, embedding FROM chunks
        WHERE user_id = %(user_id)s AND chunk_id = ANY(%(ids)s::text[])
    ),
    t AS (
        SELECT fb.chunk_id, x.lexeme, greatest(cardinality(x.positions), 1)::float8 AS tf
        FROM fb CROSS JOIN LATERAL unnest(fb.tsv) AS x
    ),
    p AS (
        SELECT t.lexeme, sum(t.tf / n.total) AS p
        FROM t JOIN (SELECT chunk_id, sum(tf) AS total FROM t GROUP BY chunk_id) AS n
             USING (chunk_id)
        WHERE t.lexeme !~ '^[0-9]{1,3}$'
        GROUP BY t.lexeme
        ORDER BY p DESC, t.lexeme COLLATE "C"
        LIMIT %(terms)s
    )
    SELECT (SELECT avg(embedding) FROM fb),
           (SELECT array_agg(lexeme ORDER BY p DESC, lexeme COLLATE "C") FROM p),
           (SELECT array_agg(p ORDER BY p DESC, lexeme COLLATE "C") FROM p),
           rag_query_lexemes(%(query)s)
    """
)
