"""The HNSW index of chunks.embedding: how it is created (migration 2, and the benchmark's own
tables), which one exists, and how ``rag-core migrate --reindex`` rebuilds it concurrently."""

from __future__ import annotations

from psycopg import sql

# One HNSW index on chunks.embedding, named after what it indexes: the vectors themselves, or
# their half-precision copies (an expression index: the column stays ``vector``, the index is
# about half the size). A search reads which one exists (``SET_SEARCH_PARAMS``) and orders by
# that index's expression (``search.knn_scan``), so it always matches the index in place.
VECTOR_TYPES = ("vector", "halfvec")
HNSW_INDEXES = {"vector": "chunks_embedding_hnsw_idx", "halfvec": "chunks_embedding_halfvec_idx"}
HNSW_BUILDING = "chunks_embedding_build_idx"  # a rebuild's index until it replaces the old one


def create_hnsw_index(m: int, ef_construction: int, vector_type: str = "vector",
                      dim: int | None = None, *, name: str | None = None,
                      concurrently: bool = False, table: str = "chunks") -> sql.Composed:
    """The HNSW index of ``vector_type`` (``halfvec`` needs the vector dimension ``dim``) on
    ``table``'s ``embedding`` (the retrieval benchmark builds it on its own tables)."""
    expression: sql.Composable
    if vector_type == "vector":
        expression = sql.SQL("embedding vector_cosine_ops")
    elif vector_type == "halfvec":
        if not dim:
            raise ValueError("a halfvec index needs the vector dimension")
        expression = sql.SQL("(embedding::halfvec({d})) halfvec_cosine_ops").format(
            d=sql.Literal(int(dim)))
    else:
        raise ValueError(f"unknown vector type {vector_type!r}; expected one of {VECTOR_TYPES}")
    return sql.SQL(
        "CREATE INDEX {how} IF NOT EXISTS {name} ON {table} USING hnsw ({expression}) "
        "WITH (m = {m}, ef_construction = {ef})"
    ).format(how=sql.SQL("CONCURRENTLY" if concurrently else ""),
             name=sql.Identifier(name or HNSW_INDEXES[vector_type]),
             table=sql.Identifier(table), expression=expression,
             m=sql.Literal(int(m)), ef=sql.Literal(int(ef_construction)))


# The HNSW indexes of chunks of these names: name, definition, valid.
HNSW_INDEX_STATE = sql.SQL(
    """
    SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = 'chunks'::regclass AND c.relname = ANY(%s)
    """
)
# A rebuild (``PgVectorStore.reindex``): session settings, then the build of HNSW_BUILDING
# (a failed or interrupted one leaves an invalid index behind: dropped first), then the swap.
REINDEX_SESSION = sql.SQL("SET statement_timeout = 0; SET maintenance_work_mem = '1GB'")
DROP_BUILDING = sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
    sql.Identifier(HNSW_BUILDING))
DROP_HNSW_INDEXES = tuple(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name))
                          for name in HNSW_INDEXES.values())
TRY_REINDEX_LOCK = sql.SQL("SELECT pg_try_advisory_lock(%s)")
UNLOCK_REINDEX = sql.SQL("SELECT pg_advisory_unlock(%s)")


def rename_building(vector_type: str) -> sql.Composed:
    return sql.SQL("ALTER INDEX {} RENAME TO {}").format(
        sql.Identifier(HNSW_BUILDING), sql.Identifier(HNSW_INDEXES[vector_type]))
