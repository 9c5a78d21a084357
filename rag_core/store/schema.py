"""The schema of the PostgreSQL store: migrations, and the HNSW index (check and rebuild).

Split from ``rag_core.store.pgvector`` (the store's reads and writes): these run on a connection
of their own, outside the store's pool. All SQL lives in
``rag_core.store.sql``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

from rag_core.config import Index
from rag_core.errors import ReindexFailed, ReindexRunning, SchemaMismatch, VectorSearchFailed
from rag_core.store import sql as q
from rag_core.store.pool import Conn

log = logging.getLogger("rag_core.store")

_DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


def ensure_schema(url: str, connect_kwargs: dict[str, Any], dim: int, index: Index) -> list[int]:
    """Apply the migrations not applied yet; returns the versions applied by this call.

    All migrations run in one transaction behind a transaction-level advisory lock, so two
    processes starting together apply them once: the second waits, then finds them done.
    """
    pending = q.migrations(dim, index.hnsw_m, index.hnsw_ef_construction,
                           index.hnsw_vector_type)
    applied_now: list[int] = []
    try:
        with psycopg.connect(url, **connect_kwargs) as conn:
            conn.execute(q.NO_STATEMENT_TIMEOUT)
            conn.execute(q.LOCK_MIGRATIONS, (q.MIGRATION_LOCK_KEY,))
            conn.execute(q.CREATE_MIGRATIONS_TABLE)
            done = {row[0] for row in conn.execute(q.APPLIED_MIGRATIONS)}
            for migration in pending:
                if migration.version in done:
                    continue
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(q.RECORD_MIGRATION, (migration.version, migration.name))
                applied_now.append(migration.version)
            row = conn.execute(q.EMBEDDING_TYPE).fetchone()
            indexes = hnsw_indexes(conn)
    except _DB_ERRORS as exc:
        raise VectorSearchFailed(
            "The notes database is not reachable, so its schema could not be checked."
        ) from exc
    expected = f"vector({dim})"
    if row is None or row[0] != expected:
        found = row[0] if row else "nothing"
        raise SchemaMismatch(
            f"chunks.embedding is {found} but the settings say {expected}; "
            "use a fresh database or the embedding model the data was built with."
        )
    if applied_now:
        log.info("applied schema migrations %s", applied_now)
    definition = indexes.get(q.HNSW_INDEXES[index.hnsw_vector_type], "").replace(" ", "")
    wanted = (f"{index.hnsw_vector_type}_cosine_ops", f"m='{index.hnsw_m}'",
              f"ef_construction='{index.hnsw_ef_construction}'")
    if not all(part in definition for part in wanted):
        log.warning("the HNSW index (%s) is not the one of the settings (%s, m %d, "
                    "ef_construction %d): searches use the index in place; "
                    "`rag-core migrate --reindex` rebuilds it",
                    "; ".join(indexes.values()) or "missing", index.hnsw_vector_type, index.hnsw_m,
                    index.hnsw_ef_construction)
    return applied_now

def hnsw_indexes(conn: Conn) -> dict[str, str]:
    """The valid HNSW indexes of ``chunks`` by name: their definitions."""
    names = [*q.HNSW_INDEXES.values(), q.HNSW_BUILDING]
    return {str(r[0]): str(r[1]) for r in conn.execute(q.HNSW_INDEX_STATE, (names,)) if r[2]}

def reindex(url: str, connect_kwargs: dict[str, Any], dim: int, index: Index,
            vector_type: str | None = None, m: int | None = None,
            ef_construction: int | None = None) -> dict[str, Any]:
    """Build the HNSW index again with these parameters (default: ``index``'s), without
    blocking searches or writes: ``CREATE INDEX CONCURRENTLY`` under a temporary name, then,
    in one short transaction, drop the old index and give the new one its type's name.
    Searches use the old index until then (they read which index exists on every search).
    One rebuild at a time: a second one raises while the first holds its advisory lock.
    """
    vector_type = vector_type or index.hnsw_vector_type
    m, efc = m or index.hnsw_m, ef_construction or index.hnsw_ef_construction
    build = q.create_hnsw_index(m, efc, vector_type, dim,
                                name=q.HNSW_BUILDING, concurrently=True)
    start = time.perf_counter()
    try:
        with psycopg.connect(url, autocommit=True, **connect_kwargs) as conn:
            locked = conn.execute(q.TRY_REINDEX_LOCK, (q.REINDEX_LOCK_KEY,)).fetchone()
            if not (locked and locked[0]):
                raise ReindexRunning("another HNSW rebuild is running on this database; "
                                     "wait for it to finish")
            conn.execute(q.REINDEX_SESSION)
            conn.execute(q.DROP_BUILDING)
            conn.execute(build)
            with conn.transaction():
                for drop in q.DROP_HNSW_INDEXES:
                    conn.execute(drop)
                conn.execute(q.rename_building(vector_type))
            conn.execute(q.UNLOCK_REINDEX, (q.REINDEX_LOCK_KEY,))
    except _DB_ERRORS as exc:
        raise VectorSearchFailed(
            "The notes database is not reachable, so the HNSW index was not rebuilt."
        ) from exc
    except psycopg.Error as exc:  # the swap is one transaction: the old index stays
        raise ReindexFailed(f"The HNSW index was not rebuilt ({exc.__class__.__name__}: "
                            f"{str(exc).strip()}); the old one stays in place.") from exc
    return {"vector_type": vector_type, "m": m, "ef_construction": efc,
            "seconds": time.perf_counter() - start}
