"""Storage of notes, chunks and vectors: the Store protocol and its PostgreSQL implementation.

``PgVectorStore`` is imported lazily so that code which only needs the protocol and the data
types does not load psycopg and pgvector.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag_core.store.base import (
    ChunkDraft,
    NoteWrite,
    RetrievalMode,
    SearchParams,
    Store,
    UpsertResult,
)

if TYPE_CHECKING:
    from rag_core.store.pgvector import PgVectorStore

__all__ = ["ChunkDraft", "NoteWrite", "PgVectorStore", "RetrievalMode", "SearchParams", "Store",
           "UpsertResult"]


def __getattr__(name: str) -> object:
    if name == "PgVectorStore":
        from rag_core.store.pgvector import PgVectorStore

        return PgVectorStore
    raise AttributeError(name)
