"""Storage of notes, chunks and vectors: the Store protocol and its PostgreSQL implementation.

``PgVectorStore`` lives in :mod:`rag_core.store.pgvector`, so that code which only needs the
protocol and the data types does not load psycopg and pgvector.
"""

from __future__ import annotations

from rag_core.store.base import (
    ChunkDraft,
    NoteWrite,
    RetrievalMode,
    Store,
    UpsertResult,
)

__all__ = ["ChunkDraft", "NoteWrite", "RetrievalMode", "Store", "UpsertResult"]
