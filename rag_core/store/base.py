"""The Store protocol: notes, chunks and vectors of many users, always read per user."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rag_core.config import (  # noqa: F401  (re-exported for the store's modules)
    FUSED_MODES,
    MODES,
    FusionMethod,
    LexicalRanker,
    Retrieval,
    RetrievalMode,
)
from rag_core.store.costs import CostStore
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.store.note_history import NoteHistory
from rag_core.store.sources import NoteSources
from rag_core.store.version_debts import VersionDebts
from rag_core.types import Chunk, Note

if TYPE_CHECKING:
    import numpy as np

# the store's default when a caller passes no params: a plain dense search
DENSE = Retrieval(retrieval_mode="dense")


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


@dataclass(frozen=True)
class NoteWrite:
    """One note of a bulk write: the note, its stored hash, its chunks and their vectors."""

    note: Note
    note_hash: str
    chunks: Sequence[ChunkDraft]
    embeddings: np.ndarray


class Store(Protocol):
    """Notes and search. The cost rows are a part of their own (``costs``), sharing only the
    store's connections; ``version_debts`` is None where one process is all there is."""

    @property
    def costs(self) -> CostStore: ...

    @property
    def version_debts(self) -> VersionDebts | None: ...

    @property
    def sources(self) -> NoteSources:
        """Each note's source folder, file and file hash (``rag-core sync``)."""

    @property
    def history(self) -> NoteHistory | None:
        """Each note's earlier texts and the trash of deleted notes; None where none is kept
        (the in-process store: a delete there is for good)."""

    def ensure_schema(self) -> Any: ...

    def note_hash(self, user_id: str, note_id: str) -> str | None:
        """The content hash of a stored note, or None when the user has no such note."""

    def note_hashes(self, user_id: str, note_ids: Sequence[str]) -> dict[str, str]:
        """The content hashes of those of ``note_ids`` the user has (one round trip)."""

    def upsert_note(
        self,
        user_id: str,
        note: Note,
        note_hash: str,
        chunks: Sequence[ChunkDraft],
        embeddings: np.ndarray,
    ) -> UpsertResult: ...

    def upsert_notes(self, user_id: str, items: Sequence[NoteWrite]) -> list[UpsertResult]:
        """Several notes in one transaction (unchanged hashes skipped), results in order."""

    def delete_note(self, user_id: str, note_id: str) -> bool: ...

    def notes_version(self, user_id: str) -> int:
        """A counter bumped by every add, edit and delete of this user's notes."""

    def list_notes(self, user_id: str, *, after: str = "",
                   limit: int | None = None) -> list[dict[str, Any]]:
        """The user's notes in id order, those after ``after``, at most ``limit``:
        ``note_id``, ``title``, ``content_hash``, ``updated_at`` (and more)."""

    def get_note(self, user_id: str, note_id: str) -> Note | None:
        """One note of the user as it was written, or None when the user has no such note."""

    def user_texts(self, user_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(note id, text, the note's front matter) of every chunk: the no-context decision's
        facts (``rag_core.decisions.note_facts``)."""

    def search(
        self,
        user_id: str,
        embedding: np.ndarray | None,
        top_k: int,
        *,
        query_text: str | None = None,
        params: Retrieval | None = None,
        min_version: int | None = None,
        filters: Filters = NO_FILTERS,
    ) -> list[Chunk]:
        """The user's best chunks, best first; ``Chunk.score`` is cosine similarity.

        ``params`` carries every knob (default ``DENSE``). ``min_version``: the
        user's notes version the answer must reflect (a read replica that has not replayed it
        yet is skipped). ``filters``: only the chunks of the notes that pass them are searched
        (strict: a note without the field a filter names is left out)."""

    def count_matching(self, user_id: str, filters: Filters, *,
                       min_version: int | None = None) -> int:
        """How many of the user's notes pass ``filters`` (``min_version`` as in ``search``)."""

    def ping(self) -> bool: ...

    def replica_status(self) -> dict[str, Any] | None:
        """The read replica's state for readiness, or None without one."""

    def close(self) -> None: ...


def stored_note(note_id: str, metadata: dict[str, Any], body: str | None,
                chunk_texts: Sequence[str] = ()) -> Note:
    """A note from its stored fields and body. A note stored before bodies were kept has only
    its chunks: they are joined in order, each without the start it repeats of the one before
    (its overlap), so the text reads once."""
    if body is None:
        parts: list[str] = []
        prev = ""
        for text in chunk_texts:
            cut = next((n for n in range(min(len(prev), len(text)), 0, -1)
                        if prev.endswith(text[:n])), 0)
            rest = text[cut:].lstrip()
            if rest:
                parts.append(rest)
            prev = text
        body = "\n\n".join(parts)
    return Note(id=note_id, title=str(metadata.get("title") or ""), body=body,
                date=metadata.get("date"), speaker=metadata.get("speaker"),
                series=metadata.get("series"), tags=tuple(metadata.get("tags") or ()),
                scripture=tuple(metadata.get("scripture") or ()))
