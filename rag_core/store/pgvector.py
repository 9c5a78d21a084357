"""PostgreSQL + pgvector implementation of the Store protocol.

One ``psycopg_pool.ConnectionPool`` per store, opened lazily on first use (after
``ensure_schema`` has created the ``vector`` extension that ``register_vector`` needs).  Every
connection is checked when it leaves the pool, so the connections that a PostgreSQL restart
killed are replaced and the same store object keeps working once the server is back.  Any
connection-level failure surfaces as ``VectorSearchFailed`` (503) with a plain message.

All SQL lives in ``rag_core.store.sql``; migrations and the HNSW index in
``rag_core.store.schema``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from rag_core.config import Settings, fixed
from rag_core.errors import VectorSearchFailed
from rag_core.store import schema
from rag_core.store import sql as q
from rag_core.store.base import (
    DENSE,
    ChunkDraft,
    NoteWrite,
    SearchParams,
    UpsertResult,
    stored_note,
)
from rag_core.store.bulk import bump_version, lock_user, make_chunk_id, write_notes
from rag_core.store.costs import PgCosts
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.store.records import PgRecords
from rag_core.store.replica import ReplicaReads
from rag_core.store.searching import run_search
from rag_core.store.version_debts import PgVersionDebts
from rag_core.types import Chunk, Note

__all__ = ["PgVectorStore", "make_chunk_id"]

log = logging.getLogger("rag_core.store")

_DB_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


def _configure(conn: psycopg.Connection[Any]) -> None:
    register_vector(conn)
    conn.commit()  # the type lookups opened a transaction; the pool wants the connection idle


class PgVectorStore:
    """Notes, chunks and vectors of many users in PostgreSQL, always read per user."""

    def __init__(self, settings: Settings) -> None:
        if not settings.database_url:
            raise ValueError("PgVectorStore needs settings.database_url (see services.resolve)")
        self.settings = settings
        self._url = settings.database_url
        self._pool_obj: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._lock = threading.Lock()
        self.reads = ReplicaReads(settings.services, self._db)  # searches and statistics (may lag)
        self.records = PgRecords(self._db)  # answer records, verdicts, the query log
        self.costs = PgCosts(self._db)  # the cost ledger's rows and open reservations
        self.version_debts = PgVersionDebts(self._db)  # notes versions Redis has not taken

    # --- connections ----------------------------------------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"connect_timeout": self.settings.db_connect_timeout_s}
        if fixed.DB_STATEMENT_TIMEOUT_MS:
            kwargs["options"] = f"-c statement_timeout={fixed.DB_STATEMENT_TIMEOUT_MS}"
        return kwargs

    def _pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        with self._lock:
            if self._pool_obj is None:
                pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=self.settings.db_pool_max_size,
                    timeout=self.settings.db_pool_timeout_s,
                    reconnect_timeout=fixed.DB_RECONNECT_TIMEOUT_S,
                    kwargs=self._connect_kwargs(),
                    configure=_configure,
                    check=ConnectionPool.check_connection,
                    reconnect_failed=lambda _pool: log.warning(
                        "PostgreSQL unreachable; the pool retries on the next request"
                    ),
                    name="rag_core",
                    open=False,
                )
                pool.open(wait=False)
                self._pool_obj = pool
            return self._pool_obj

    @contextmanager
    def _db(self, action: str) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one transaction; connection failures become 503s."""
        try:
            with self._pool().connection() as conn:
                yield conn
        except _DB_ERRORS as exc:
            log.warning("database failure during %s: %s", action, exc.__class__.__name__)
            raise VectorSearchFailed(
                f"The notes database is not reachable right now ({action} failed); "
                "please try again shortly."
            ) from exc

    # --- schema (rag_core.store.schema) ----------------------------------------------------

    def ensure_schema(self) -> list[int]:
        """Apply the migrations not applied yet; returns the versions applied by this call."""
        return schema.ensure_schema(self._url, self._connect_kwargs(), self.settings)

    def hnsw_index(self) -> dict[str, str]:
        """The valid HNSW indexes of ``chunks`` (name: definition); one outside a rebuild."""
        with self._db("index lookup") as conn:
            return schema.hnsw_indexes(conn)

    def reindex(self, vector_type: str | None = None, m: int | None = None,
                ef_construction: int | None = None) -> dict[str, Any]:
        """Build the HNSW index again without blocking searches or writes
        (:func:`rag_core.store.schema.reindex`)."""
        return schema.reindex(self._url, self._connect_kwargs(), self.settings, vector_type, m,
                              ef_construction)

    # --- notes ----------------------------------------------------------------------------

    def note_hash(self, user_id: str, note_id: str) -> str | None:
        with self._db("note lookup") as conn:
            row = conn.execute(q.NOTE_HASH, (user_id, note_id)).fetchone()
        return None if row is None else str(row[0])

    def note_hashes(self, user_id: str, note_ids: Sequence[str]) -> dict[str, str]:
        with self._db("note lookup") as conn:
            rows = conn.execute(q.NOTE_HASHES, (user_id, list(note_ids))).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def upsert_note(
        self,
        user_id: str,
        note: Note,
        note_hash: str,
        chunks: Sequence[ChunkDraft],
        embeddings: np.ndarray,
    ) -> UpsertResult:
        """Store a note and its chunks in one transaction, or nothing if its hash is unchanged."""
        return self.upsert_notes(user_id, [NoteWrite(note, note_hash, chunks, embeddings)])[0]

    def upsert_notes(self, user_id: str, items: Sequence[NoteWrite]) -> list[UpsertResult]:
        """Store several notes in one transaction (bulk ``COPY``); unchanged hashes skipped."""
        vectors = [self._matrix(it.embeddings, len(it.chunks)) for it in items]
        if not items:
            return []
        with self._db("note upsert") as conn:
            return write_notes(conn, user_id, items, vectors)

    def delete_note(self, user_id: str, note_id: str) -> bool:
        """Delete a note and its chunks (cascade), and its text from the verdicts whose
        answers cited it, in one transaction; False when the user has no such note."""
        with self._db("note delete") as conn:
            lock_user(conn, user_id)
            if conn.execute(q.DELETE_NOTE, (user_id, note_id)).fetchone() is None:
                return False
            bump_version(conn, user_id, 1)
            conn.execute(q.REDACT_FEEDBACK, {"user_id": user_id, "note_id": note_id})
        return True

    def notes_version(self, user_id: str) -> int:
        with self._db("version lookup") as conn:
            row = conn.execute(q.NOTES_VERSION, (user_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def list_notes(self, user_id: str, *, after: str = "",
                   limit: int | None = None) -> list[dict[str, Any]]:
        """The user's notes by id (those after ``after``, at most ``limit``): note_id, title,
        content_hash, metadata, updated_at, chunks."""
        with self._db("note listing") as conn:
            rows = conn.execute(q.LIST_NOTES, {"user_id": user_id, "after": after,
                                               "limit": limit}).fetchall()
        return [
            {
                "note_id": r[0],
                "title": (r[2] or {}).get("title"),
                "content_hash": r[1],
                "metadata": r[2],
                "updated_at": r[3],
                "chunks": int(r[4]),
            }
            for r in rows
        ]

    def get_note(self, user_id: str, note_id: str) -> Note | None:
        with self._db("note lookup") as conn:
            row = conn.execute(q.GET_NOTE, (user_id, note_id)).fetchone()
        return None if row is None else stored_note(note_id, row[0] or {}, row[1], row[3] or ())

    def user_texts(self, user_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(note id, text, the note's front matter) of every chunk of one user."""
        with self._db("text listing") as conn:
            return [(str(r[0]), str(r[1]), dict(r[2] or {}))
                    for r in conn.execute(q.USER_TEXTS, (user_id,)).fetchall()]

    def count_chunks(self, user_id: str | None = None) -> int:
        def read(conn: psycopg.Connection[Any]) -> Any:
            if user_id is None:
                return conn.execute(q.COUNT_CHUNKS).fetchone()
            return conn.execute(q.COUNT_USER_CHUNKS, (user_id,)).fetchone()

        row = self.reads.run("chunk count", read)
        return int(row[0]) if row else 0

    def users(self) -> list[str]:
        """Every user id that has at least one note."""
        return self.reads.run("user listing",
                              lambda conn: [str(r[0]) for r in conn.execute(q.USERS)])

    # --- search ---------------------------------------------------------------------------

    def search(
        self,
        user_id: str,
        embedding: np.ndarray | None,
        top_k: int,
        *,
        query_text: str | None = None,
        params: SearchParams | None = None,
        min_version: int | None = None,
        filters: Filters = NO_FILTERS,
    ) -> list[Chunk]:
        """The user's best chunks, best first, searched with ``params`` (defaults when None),
        on the read replica when it has the user's notes version ``min_version`` (replica.py),
        among the chunks of the notes that pass ``filters`` (in the statement itself).

        ``score`` is the cosine similarity to ``embedding`` for every returned chunk, also for
        lexical-only hits (in lexical mode without an embedding it is the lexical score).
        Every knob comes from ``params`` (the service passes ``settings.retrieval``; default
        ``DENSE``).  ``ef_search`` is
        never set below the number of rows the index scan must return.
        """
        params = params or DENSE
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if embedding is None and params.retrieval_mode != "lexical":
            raise ValueError(f"{params.retrieval_mode} search needs a query embedding")
        vector = None if embedding is None else self._vector(embedding)
        search = params

        def read(conn: psycopg.Connection[Any]) -> list[Chunk]:
            return run_search(conn, user_id, vector, top_k, query_text, search, filters)

        return self.reads.run("vector search", read, user_id=user_id, min_version=min_version)

    def count_matching(self, user_id: str, filters: Filters, *,
                       min_version: int | None = None) -> int:
        """How many of the user's notes pass ``filters`` (all of them without filters), where
        the search reads (``min_version`` as in ``search``)."""
        def read(conn: psycopg.Connection[Any]) -> int:
            row = conn.execute(q.COUNT_MATCHING, {"user_id": user_id, **filters.binds()}
                               ).fetchone()
            return int(row[0]) if row else 0

        return self.reads.run("note count", read, user_id=user_id, min_version=min_version)

    def lexical_stats(self, user_id: str, terms: Sequence[str] = ()) -> dict[str, Any]:
        """The user's BM25 statistics: ``chunks``, ``avg_length`` and ``df`` of ``terms``."""
        with self._db("statistics lookup") as conn:
            row = conn.execute(q.USER_LEXICAL_STATS, (user_id,)).fetchone()
            dfs = dict(conn.execute(q.LEXEME_DFS, (user_id, list(terms))).fetchall())
        chunks, total = (int(row[0]), int(row[1])) if row else (0, 0)
        return {"chunks": chunks, "total_length": total,
                "avg_length": total / chunks if chunks else 0.0,
                "df": {t: int(dfs.get(t, 0)) for t in terms}}

    def query_lexemes(self, text: str) -> list[str]:
        """The lexemes the lexical search looks for in ``text`` (stemmed, references added)."""
        with self._db("lexeme lookup") as conn:
            row = conn.execute(q.QUERY_LEXEMES, (text,)).fetchone()
        return list(row[0]) if row and row[0] else []

    # --- costs ----------------------------------------------------------------------------

    # --- lifecycle ------------------------------------------------------------------------

    def ping(self) -> bool:
        """True when PostgreSQL answers within a short time; never raises."""
        try:
            timeout = min(1.0, self.settings.db_pool_timeout_s)
            with self._pool().connection(timeout=timeout) as conn:
                conn.execute(q.PING)
            return True
        except Exception:  # readiness probes want a yes or no, not an error
            return False

    def replica_status(self) -> dict[str, Any] | None:
        return self.reads.status()

    def close(self) -> None:
        self.reads.close()
        with self._lock:
            if self._pool_obj is not None:
                self._pool_obj.close()
                self._pool_obj = None

    def __enter__(self) -> PgVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers --------------------------------------------------------------------------

    def _vector(self, embedding: np.ndarray) -> np.ndarray:
        vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self.settings.embedding_dim:
            raise ValueError(
                f"query embedding has {vec.shape[0]} dimensions, expected "
                f"{self.settings.embedding_dim}"
            )
        if not np.all(np.isfinite(vec)):
            raise ValueError("query embedding contains NaN or infinity")
        return vec

    def _matrix(self, embeddings: np.ndarray, n: int) -> np.ndarray:
        mat = np.asarray(embeddings, dtype=np.float32)
        if n == 0:
            return mat.reshape(0, self.settings.embedding_dim)
        if mat.ndim != 2 or mat.shape != (n, self.settings.embedding_dim):
            raise ValueError(
                f"expected embeddings of shape ({n}, {self.settings.embedding_dim}), "
                f"got {mat.shape}"
            )
        if not np.all(np.isfinite(mat)):
            raise ValueError("embeddings contain NaN or infinity")
        return mat
