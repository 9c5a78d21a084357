"""An in-process Store: exact cosine in numpy and a plain term-overlap lexical match.

It keeps the Store contract (per-user isolation, idempotent and bulk upserts, a notes version
bumped by every change, the retrieval modes with the store's own fusion; ``hybrid_prf``
searches as hybrid, without feedback) so that tests of the pipeline's logic (step order,
budgets, refusals, cache outcomes) run without PostgreSQL. It is not a
vector database: storage behaviour is tested on the real PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from rag_core.config import Retrieval
from rag_core.store.base import (
    DENSE,
    FUSED_MODES,
    ChunkDraft,
    NoteWrite,
    UpsertResult,
    stored_note,
)
from rag_core.store.costs import MemoryCosts
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.store.fusion import fuse
from rag_core.store.records import MemoryRecords
from rag_core.store.sources import MemorySources
from rag_core.types import Chunk, Note

_TERM = re.compile(r"[^\W_]+")


def _terms(text: str) -> set[str]:
    return {t.casefold() for t in _TERM.findall(text) if len(t) > 2}


def _passes(filters: Filters, note: _Note) -> bool:
    """The note passes ``filters``; its text (its chunks', as the SQL reads them) only when
    they read it."""
    text = "\n".join(c.text for c in note.chunks) if filters.asked else ""
    return filters.matches(note.metadata, text)


@dataclass
class _Note:
    note_hash: str
    metadata: dict[str, Any]
    chunks: list[Chunk]
    vectors: np.ndarray
    updated_at: datetime
    body: str = ""


class MemoryStore:
    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self._notes: dict[str, dict[str, _Note]] = defaultdict(dict)
        self._versions: dict[str, int] = defaultdict(int)
        self.costs = MemoryCosts()  # the cost ledger's rows and open reservations
        self.version_debts = None  # one process: nothing is owed to another
        self._lock = threading.Lock()
        self.records = MemoryRecords()  # verdicts: a deleted note's text leaves them too
        self.sources = MemorySources(lambda user, note: note in self._notes[user])
        self.history = None  # no revisions and no trash: storage is tested on PostgreSQL

    def ensure_schema(self) -> list[int]:
        return []

    def note_hash(self, user_id: str, note_id: str) -> str | None:
        note = self._notes[user_id].get(note_id)
        return None if note is None else note.note_hash

    def note_hashes(self, user_id: str, note_ids: Sequence[str]) -> dict[str, str]:
        notes = self._notes[user_id]
        return {nid: notes[nid].note_hash for nid in note_ids if nid in notes}

    def upsert_note(self, user_id: str, note: Note, note_hash: str,
                    chunks: Sequence[ChunkDraft], embeddings: np.ndarray) -> UpsertResult:
        return self.upsert_notes(user_id, [NoteWrite(note, note_hash, chunks, embeddings)])[0]

    def upsert_notes(self, user_id: str, items: Sequence[NoteWrite]) -> list[UpsertResult]:
        """All of ``items`` or none: every note's vectors are checked before anything is kept."""
        ids = [it.note.id for it in items]
        if len(set(ids)) != len(ids):
            raise ValueError("a bulk write names the same note twice")
        vectors = [self._matrix(it.embeddings, len(it.chunks)) for it in items]
        results = []
        with self._lock:
            for it, matrix in zip(items, vectors, strict=True):
                results.append(self._upsert(user_id, it, matrix))
        return results

    def _matrix(self, embeddings: np.ndarray, n: int) -> np.ndarray:
        mat = np.asarray(embeddings, dtype=np.float32)
        if n == 0:
            return mat.reshape(0, self.dim)
        if mat.shape != (n, self.dim):
            raise ValueError(f"expected embeddings of shape ({n}, {self.dim}), got {mat.shape}")
        if not np.all(np.isfinite(mat)):
            raise ValueError("embeddings contain NaN or infinity")
        return mat

    def _upsert(self, user_id: str, item: NoteWrite, vectors: np.ndarray) -> UpsertResult:
        note = item.note
        old = self._notes[user_id].get(note.id)
        if old is not None and old.note_hash == item.note_hash:
            return UpsertResult(note.id, "unchanged", 0)
        meta = note.metadata()
        stored = [Chunk(chunk_id=f"{note.id}:{c.ordinal}:{c.content_hash[:12]}",
                        note_id=note.id, user_id=user_id, ordinal=c.ordinal, text=c.text,
                        metadata=dict(meta)) for c in item.chunks]
        self._notes[user_id][note.id] = _Note(item.note_hash, meta, stored, vectors,
                                              datetime.now(UTC), note.body)
        self._versions[user_id] += 1
        return UpsertResult(note.id, "updated" if old else "inserted", len(item.chunks))

    def delete_note(self, user_id: str, note_id: str) -> bool:
        with self._lock:
            if self._notes[user_id].pop(note_id, None) is None:
                return False
            self._versions[user_id] += 1
        self.records.redact_note(user_id, note_id)
        self.sources.forget(user_id, note_id)
        return True

    def notes_version(self, user_id: str) -> int:
        return self._versions[user_id]

    def get_note(self, user_id: str, note_id: str) -> Note | None:
        with self._lock:
            found = self._notes[user_id].get(note_id)
        return None if found is None else stored_note(note_id, found.metadata, found.body)

    def list_notes(self, user_id: str, *, after: str = "",
                   limit: int | None = None) -> list[dict[str, Any]]:
        rows = [{"note_id": nid, "title": n.metadata.get("title"), "content_hash": n.note_hash,
                 "metadata": n.metadata, "updated_at": n.updated_at, "chunks": len(n.chunks)}
                for nid, n in sorted(self._notes[user_id].items()) if nid > after]
        return rows[:limit] if limit is not None else rows

    def user_texts(self, user_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [(nid, c.text, dict(c.metadata)) for nid, n in sorted(self._notes[user_id].items())
                for c in n.chunks]

    def search(self, user_id: str, embedding: np.ndarray | None, top_k: int, *,
               query_text: str | None = None, params: Retrieval | None = None,
               min_version: int | None = None, filters: Filters = NO_FILTERS) -> list[Chunk]:
        p = params or DENSE
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if embedding is None and p.retrieval_mode != "lexical":
            raise ValueError(f"{p.retrieval_mode} search needs a query embedding")
        notes = [n for n in self._notes[user_id].values() if _passes(filters, n)]
        chunks = [c for n in notes for c in n.chunks]
        if not chunks:
            return []
        matrix = np.concatenate([n.vectors for n in notes])
        cosine = (matrix @ np.asarray(embedding, dtype=np.float32) if embedding is not None
                  else np.zeros(len(chunks), dtype=np.float32))
        words = _terms(query_text or "")
        matched = [tuple(sorted(words & _terms(c.text))) for c in chunks]
        overlap = np.array([len(m) for m in matched], dtype=np.float32)
        dense = [int(i) for i in np.argsort(-cosine, kind="stable")]
        lexical = [int(i) for i in np.argsort(-overlap, kind="stable") if overlap[i] > 0]
        d_rank: dict[int, int] = {}
        l_rank: dict[int, int] = {}
        if p.retrieval_mode == "dense":
            order = dense[:top_k]
        elif p.retrieval_mode == "lexical":
            order = lexical[:top_k]
        else:
            dense_depth = max(top_k, p.dense_candidates)
            lexical_depth = max(top_k, p.lexical_candidates)
            d_rank = {i: r for r, i in enumerate(dense[:dense_depth], start=1)}
            l_rank = {i: r for r, i in enumerate(lexical[:lexical_depth], start=1)}
            order = sorted(set(d_rank) | set(l_rank))
        found = [dataclasses.replace(
            chunks[i], score=float(cosine[i]), dense_rank=d_rank.get(i),
            lexical_rank=l_rank.get(i), matched_terms=matched[i],
            lexical_score=float(overlap[i]) if overlap[i] > 0 else None) for i in order]
        return fuse(found, p, top_k) if p.retrieval_mode in FUSED_MODES else found

    def count_matching(self, user_id: str, filters: Filters, *,
                       min_version: int | None = None) -> int:
        return sum(1 for n in self._notes[user_id].values() if _passes(filters, n))

    def ping(self) -> bool:
        return True

    def replica_status(self) -> dict[str, Any] | None:
        return None

    def close(self) -> None:
        return None
