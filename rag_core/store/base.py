"""The Store protocol: notes, chunks and vectors of many users, always read per user."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from rag_core.types import Chunk, Note

RetrievalMode = Literal["dense", "lexical", "hybrid"]


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored: its text, its place in the note and its content hash."""

    ordinal: int
    text: str
    content_hash: str


@dataclass(frozen=True)
class UpsertResult:
    note_id: str
    status: Literal["inserted", "updated", "unchanged"]
    chunks_written: int


class Store(Protocol):
    def ensure_schema(self) -> None: ...

    def note_hash(self, user_id: str, note_id: str) -> str | None:
        """The content hash of a stored note, or None when the user has no such note."""

    def upsert_note(
        self,
        user_id: str,
        note: Note,
        note_hash: str,
        chunks: Sequence[ChunkDraft],
        embeddings: np.ndarray,
    ) -> UpsertResult: ...

    def delete_note(self, user_id: str, note_id: str) -> bool: ...

    def notes_version(self, user_id: str) -> int:
        """A counter bumped by every add, edit and delete of this user's notes."""

    def search(
        self,
        user_id: str,
        embedding: np.ndarray | None,
        top_k: int,
        *,
        query_text: str | None = None,
        mode: RetrievalMode = "dense",
    ) -> list[Chunk]:
        """The user's best chunks, best first; ``Chunk.score`` is cosine similarity."""

    def ping(self) -> bool: ...

    def close(self) -> None: ...
