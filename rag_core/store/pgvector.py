"""PostgreSQL + pgvector implementation of the Store protocol.

The store is the notes' writes and lookups on the primary; its parts borrow its connections
(``PgPool.db``, rag_core.store.pool): the searches and statistics (``searches``,
rag_core.store.searches, through the replica's ``reads``), the answer records, the cost rows
and the version debts. The store answers the whole ``Store`` protocol, handing the searches
and statistics to ``searches``.

All SQL lives in ``rag_core.store.sql``; migrations and the HNSW index in
``rag_core.store.schema``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag_core.config import Embedding, Index, Retrieval, Services, Settings
from rag_core.store import schema
from rag_core.store import sql as q
from rag_core.store.base import (
    ChunkDraft,
    NoteWrite,
    UpsertResult,
    stored_note,
)
from rag_core.store.bulk import bump_version, lock_user, make_chunk_id, write_notes
from rag_core.store.costs import PgCosts
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.store.pg_history import PgNoteHistory
from rag_core.store.pool import PgPool
from rag_core.store.records import PgRecords
from rag_core.store.replica import ReplicaReads
from rag_core.store.searches import PgSearches
from rag_core.store.sources import PgSources
from rag_core.store.version_debts import PgVersionDebts
from rag_core.store.version_notices import PgVersionNotices
from rag_core.types import Chunk, Note

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PgVectorStore", "make_chunk_id", "store_for"]


def store_for(settings: Settings) -> PgVectorStore:
    """The store of ``settings``: their services, embedding and index sections (the schema is
    applied by ``ensure_schema``, or by ``rag_core.parts.build_store``)."""
    return PgVectorStore(settings.services, settings.embedding, settings.index)


class PgVectorStore:
    """Notes, chunks and vectors of many users in PostgreSQL, always read per user."""

    def __init__(self, services: Services, embedding: Embedding, index: Index) -> None:
        self.services = services
        self.dim = embedding.embedding_dim  # the vectors' dimension
        self.index = index  # how the HNSW index is built
        self.pool = PgPool(services)  # the primary's connections, lent to every part
        self._db = self.pool.db
        self.reads = ReplicaReads(services, self._db)  # searches and statistics (may lag)
        self.searches = PgSearches(self.dim, self.reads, self._db)
        self.records = PgRecords(self._db)  # answer records, verdicts, the query log
        self.costs = PgCosts(self._db)  # the cost ledger's rows and open reservations
        self.version_debts = PgVersionDebts(  # notes versions Redis has not taken
            self._db, PgVersionNotices(self.pool.url, self.pool.connect_kwargs()))
        self.sources = PgSources(self._db)  # each note's folder, file and file hash
        self.history = PgNoteHistory(  # each note's earlier texts, and the trash
            self._db, services.note_revisions, services.note_trash_days)

    # --- schema (rag_core.store.schema) ----------------------------------------------------

    def ensure_schema(self) -> list[int]:
        """Apply the migrations not applied yet; returns the versions applied by this call."""
        return schema.ensure_schema(self.pool.url, self.pool.connect_kwargs(), self.dim,
                                    self.index)

    def hnsw_index(self) -> dict[str, str]:
        """The valid HNSW indexes of ``chunks`` (name: definition); one outside a rebuild."""
        with self._db("index lookup") as conn:
            return schema.hnsw_indexes(conn)

    def reindex(self, vector_type: str | None = None, m: int | None = None,
                ef_construction: int | None = None) -> dict[str, Any]:
        """Build the HNSW index again without blocking searches or writes
        (:func:`rag_core.store.schema.reindex`)."""
        return schema.reindex(self.pool.url, self.pool.connect_kwargs(), self.dim, self.index,
                              vector_type, m, ef_construction)

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
            return write_notes(conn, user_id, items, vectors, self.history)

    def delete_note(self, user_id: str, note_id: str) -> bool:
        """Delete a note and its chunks (cascade), and its text from the verdicts whose
        answers cited it, in one transaction, its last text kept in the trash
        (``history``); False when the user has no such note."""
        with self._db("note delete") as conn:
            lock_user(conn, user_id)
            self.history.trash(conn, user_id, note_id)  # nothing when there is no such note
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

    # --- search and statistics (rag_core.store.searches) ----------------------------------

    def search(self, user_id: str, embedding: np.ndarray | None, top_k: int, *,
               query_text: str | None = None, params: Retrieval | None = None,
               min_version: int | None = None, filters: Filters = NO_FILTERS) -> list[Chunk]:
        """The user's best chunks, best first (:meth:`PgSearches.search`)."""
        return self.searches.search(user_id, embedding, top_k, query_text=query_text,
                                    params=params, min_version=min_version, filters=filters)

    def count_matching(self, user_id: str, filters: Filters, *,
                       min_version: int | None = None) -> int:
        return self.searches.count_matching(user_id, filters, min_version=min_version)

    def count_chunks(self, user_id: str | None = None) -> int:
        return self.searches.count_chunks(user_id)

    def users(self) -> list[str]:
        return self.searches.users()

    def lexical_stats(self, user_id: str, terms: Sequence[str] = ()) -> dict[str, Any]:
        return self.searches.lexical_stats(user_id, terms)

    def query_lexemes(self, text: str) -> list[str]:
        return self.searches.query_lexemes(text)

    # --- lifecycle ------------------------------------------------------------------------

    def ping(self) -> bool:
        """True when PostgreSQL answers within a short time; never raises."""
        return self.pool.ping()

    def replica_status(self) -> dict[str, Any] | None:
        return self.reads.status()

    def close(self) -> None:
        self.reads.close()
        self.pool.close()

    def __enter__(self) -> PgVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers --------------------------------------------------------------------------

    def _matrix(self, embeddings: np.ndarray, n: int) -> np.ndarray:
        import numpy as np

        mat = np.asarray(embeddings, dtype=np.float32)
        if n == 0:
            return mat.reshape(0, self.dim)
        if mat.ndim != 2 or mat.shape != (n, self.dim):
            raise ValueError(
                f"expected embeddings of shape ({n}, {self.dim}), "
                f"got {mat.shape}"
            )
        if not np.all(np.isfinite(mat)):
            raise ValueError("embeddings contain NaN or infinity")
        return mat
