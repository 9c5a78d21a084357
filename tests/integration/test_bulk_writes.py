"""Bulk writes (``upsert_notes``: a batch of notes in one transaction) on the real PostgreSQL."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from rag_core.config import Retrieval
from rag_core.store import ChunkDraft, NoteWrite
from rag_core.store.pgvector import PgVectorStore
from rag_core.types import Note

pytestmark = pytest.mark.integration

LEXICAL = Retrieval(retrieval_mode="lexical")


def item(note_id: str, texts: list[str], digest: str = "v1", seed: int = 0) -> NoteWrite:
    v = np.random.default_rng(seed).normal(size=(len(texts), 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    drafts = [ChunkDraft(i, t, hashlib.sha256(t.encode()).hexdigest())
              for i, t in enumerate(texts)]
    return NoteWrite(Note(id=note_id, title=note_id, body=" ".join(texts)), digest, drafts, v)


def test_a_batch_is_written_with_per_note_statuses(store: PgVectorStore) -> None:
    first = store.upsert_notes("ann", [item("a", ["one", "two"]), item("b", ["three"])])
    assert [(r.note_id, r.status, r.chunks_written) for r in first] == [
        ("a", "inserted", 2), ("b", "inserted", 1)]
    assert store.notes_version("ann") == 2  # one bump per note changed
    again = store.upsert_notes("ann", [item("a", ["one", "two"]), item("b", ["four"], "v2"),
                                       item("c", ["five", "six", "seven"])])
    assert [r.status for r in again] == ["unchanged", "updated", "inserted"]
    assert store.notes_version("ann") == 4
    assert store.note_hashes("ann", ["a", "b", "zzz"]) == {"a": "v1", "b": "v2"}
    assert store.note_hashes("bob", ["a"]) == {}
    assert store.count_chunks("ann") == 2 + 1 + 3
    texts = {c.text for c in store.search("ann", None, 10, query_text="three four",
                                          params=LEXICAL)}
    assert texts == {"four"}  # the replaced chunk is gone, its successor searchable
    assert store.upsert_notes("ann", []) == []
    assert store.lexical_stats("ann")["chunks"] == 6


def test_a_bad_batch_writes_nothing(store: PgVectorStore) -> None:
    with pytest.raises(ValueError, match="twice"):
        store.upsert_notes("ann", [item("a", ["one"]), item("a", ["two"])])
    bad = item("b", ["x", "y"])
    with pytest.raises(ValueError, match="shape"):
        store.upsert_notes("ann", [item("a", ["one"]),
                                   NoteWrite(bad.note, "v1", bad.chunks, bad.embeddings[:1])])
    assert store.count_chunks("ann") == 0 and store.notes_version("ann") == 0
