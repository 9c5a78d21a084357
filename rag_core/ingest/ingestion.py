"""Ingestion: notes → chunks → embeddings → store, doing no work for notes that did not change.

A note is skipped *before* chunking and embedding when the hash stored for it equals
``stored_hash(note, settings)``.  That hash covers the note (body and metadata) and everything
that shapes its chunks and vectors (embedding model, dimension, chunk budget, overlap, header
format), so changing the chunking settings and ingesting again rebuilds the notes, while
ingesting an unchanged folder again embeds nothing and writes nothing.

New and changed notes are embedded in groups of about ``GROUP_BATCHES`` batches of
``Settings.embedding_batch_size`` chunks: the embedder sorts what it is given by length before
it batches, so a group of many batches pads less than one batch at a time (MEDLINE's chunks:
1,024 in 13 s in groups of 512, 16 s in groups of 64, OpenVINO on two cores). Each group is
written in one transaction of the store (``Store.upsert_notes``: bulk ``COPY``), so an
interrupted run keeps the groups it finished.  Writing overlaps embedding: one writer
thread stores group ``i`` while the model embeds group ``i + 1`` (the database works in its own
process, the model releases the GIL), so ingestion runs close to the model's raw speed.

Validation comes first and is whole: the user id (the rule of ``rag_core.safety.guard``, matched
whole)
and every note (control characters, lone surrogates, duplicate ids, empty bodies) are checked
before anything is written, so a bad note in a folder leaves the store as it was and the error
names the file (``load_notes``) or the note id.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from rag_core.config import Settings
from rag_core.embedding import Embedder
from rag_core.errors import InvalidNote, InvalidUser
from rag_core.ingest import embed_slots
from rag_core.ingest.bulk_delete import confirm_deletes
from rag_core.ingest.chunking import chunk_note, embedding_text
from rag_core.ingest.notes import check_note, note_hash
from rag_core.ingest.readers import load_notes
from rag_core.safety.guard import is_valid_user_id
from rag_core.store.base import ChunkDraft, NoteWrite, Store, UpsertResult
from rag_core.store.note_history import sweep_trash
from rag_core.telemetry.logs import hash_id
from rag_core.telemetry.tracing import span
from rag_core.types import Note

GROUP_BATCHES = 8  # embedder batches per group of notes embedded and written together

if TYPE_CHECKING:
    from rag_core.parts import Parts

# Bump when embedding_text() or chunk_note() change what they produce for the same input.
PIPELINE_VERSION = "chunks-v2"  # v2: one sentence splitter (no cut at "p.m." or "?" mid-sentence)


@dataclass
class IngestReport:
    notes_seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks_written: int = 0
    seconds: float = 0.0
    chunks_per_s: float = 0.0
    statuses: dict[str, str] = field(default_factory=dict)  # note id -> what happened to it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def counts(self) -> dict[str, Any]:
        """The figures without the per-note statuses."""
        return {k: v for k, v in self.to_dict().items() if k != "statuses"}


@dataclass
class _Pending:
    note: Note
    hash: str
    chunks: list[ChunkDraft]


def stored_hash(note: Note, settings: Settings) -> str:
    """The hash stored with a note: its content plus the settings that shape its chunks."""
    embedding = settings.embedding
    parts = (
        PIPELINE_VERSION,
        note_hash(note),
        embedding.embedding_model,
        str(embedding.embedding_dim),
        str(embedding.chunk_tokens),
        str(embedding.chunk_overlap_tokens),
        # the default method adds nothing: hashes stored before the knob stay valid
        *([] if embedding.chunking == "sentences" else [embedding.chunking]),
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def ingest_notes(
    parts: Parts,
    user_id: str,
    notes: Sequence[Note],
    progress: bool = True,
    *,
    prune: bool = False,
    before_embedding: Callable[[int], None] | None = None,
    max_delete: int | None = None,
    yes: bool = False,
) -> IngestReport:
    """Store the user's notes; with ``prune`` also delete the user's notes not in ``notes``
    (more than ``max_delete`` of them only with ``yes``: ``rag_core.ingest.bulk_delete``;
    else nothing is written).

    When anything changed, the user's cached answers of older notes versions are purged.
    ``before_embedding`` is told how many chunks are to be embedded (the notes that changed)
    before any is; what it raises stops the write with nothing stored (a write quota).
    """
    check_user(user_id)
    store, embedder, counter, settings = parts.store, parts.embedder, parts.counter, \
        parts.settings
    start = time.perf_counter()
    report = IngestReport(notes_seen=len(notes))
    _check_unique(notes)
    for note in notes:
        check_note(note)
    doomed = _doomed(store, user_id, {n.id for n in notes}, max_delete, yes) if prune else []
    attrs: dict[str, Any] = {"user.id_hash": hash_id(user_id), "notes": len(notes)}
    with span("assistant.ingest", **attrs):
        pending: list[_Pending] = []
        stored = store.note_hashes(user_id, [n.id for n in notes])
        for note in notes:
            digest = stored_hash(note, settings)
            if stored.get(note.id) == digest:
                report.unchanged += 1
                report.statuses[note.id] = "unchanged"
                continue
            drafts = chunk_note(note, counter, settings.embedding.chunk_tokens,
                                settings.embedding.chunk_overlap_tokens,
                                settings.embedding.chunking)
            if not drafts:
                raise InvalidNote(f"note {note.id!r}: empty body")
            pending.append(_Pending(note, digest, drafts))

        total = sum(len(p.chunks) for p in pending)
        if before_embedding is not None and total:
            before_embedding(total)
        with tqdm(total=total, disable=not progress or total == 0, unit="chunk",
                  desc=f"embedding notes of {user_id}") as bar, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
            in_flight: Future[list[UpsertResult]] | None = None
            for group in _groups(pending, settings.embedding.embedding_batch_size * GROUP_BATCHES):
                items = _embed(embedder, settings, group, bar)
                if in_flight is not None:
                    _count(in_flight.result(), report)
                in_flight = writer.submit(store.upsert_notes, user_id, items)
            if in_flight is not None:
                _count(in_flight.result(), report)

        if prune:
            gone = [i for i in doomed if store.delete_note(user_id, i)]
            report.deleted = len(gone)
            report.statuses.update(dict.fromkeys(gone, "deleted"))
    if report.inserted or report.updated or report.deleted:
        parts.caches.notes.changed(user_id, store.notes_version(user_id))
    report.seconds = time.perf_counter() - start
    report.chunks_per_s = report.chunks_written / report.seconds if report.seconds > 0 else 0.0
    return report


def ingest_path(
    parts: Parts,
    user_id: str,
    path: str | Path,
    progress: bool = True,
    *,
    prune: bool = False,
) -> IngestReport:
    """Load a folder (recursively) or a file of notes and ingest it.

    Pruning with a folder that holds no notes is refused: it would delete every note of the
    user, which is far more often a wrong path than an intention.
    """
    check_user(user_id)
    notes = load_notes(path)
    if prune and not notes:
        raise InvalidNote(f"{path}: no notes found; refusing to prune every note of {user_id!r}")
    return ingest_notes(parts, user_id, notes, progress, prune=prune)


def delete_note(parts: Parts, user_id: str, note_id: str) -> bool:
    """Delete one note; its user's cached answers of older versions go with it."""
    deleted = parts.store.delete_note(user_id, note_id)
    if deleted:
        parts.caches.notes.changed(user_id, parts.store.notes_version(user_id))
        sweep_trash(parts.store.history)  # the expired trash out, now and then
    return deleted


def check_user(user_id: object) -> None:
    """``InvalidUser`` unless ``user_id`` follows the id rule used everywhere (guard.USER_ID)."""
    if not is_valid_user_id(user_id):
        shown = repr(user_id) if len(repr(user_id)) <= 60 else repr(user_id)[:57] + "..."
        raise InvalidUser(f"The user id {shown} is not valid: it must be 1-128 letters, digits "
                          "or . _ @ : -")


def _groups(pending: list[_Pending], size: int) -> Iterator[list[_Pending]]:
    """Whole notes, about ``size`` chunks per group (a long note makes a group of its own)."""
    group: list[_Pending] = []
    chunks = 0
    for item in pending:
        group.append(item)
        chunks += len(item.chunks)
        if chunks >= size:
            yield group
            group, chunks = [], 0
    if group:
        yield group


def _embed(embedder: Embedder, settings: Settings, group: list[_Pending],
           bar: tqdm[Any]) -> list[NoteWrite]:
    texts = [embedding_text(p.note, c.text) for p in group for c in p.chunks]
    # one call: the embedder sorts the group by length and batches it itself; one of the
    # process's few embedding places held meanwhile, the work on one of its lower-priority
    # threads, so that serving comes first (``embed_slots``)
    vectors = np.asarray(embed_slots.SLOTS.run(
        lambda: embedder.embed(texts, progress=False))) if texts else \
        np.zeros((0, settings.embedding.embedding_dim))
    bar.update(len(texts))
    items, offset = [], 0
    for p in group:
        n = len(p.chunks)
        items.append(NoteWrite(p.note, p.hash, p.chunks, vectors[offset:offset + n]))
        offset += n
    return items


def _count(results: list[UpsertResult], report: IngestReport) -> None:
    for result in results:
        report.statuses[result.note_id] = result.status
        if result.status == "inserted":
            report.inserted += 1
        elif result.status == "updated":
            report.updated += 1
        else:
            report.unchanged += 1
        report.chunks_written += result.chunks_written


def _doomed(store: Store, user_id: str, keep: set[str], max_delete: int | None,
            yes: bool) -> list[str]:
    """The user's notes a prune deletes (not in ``keep``), once the bound allows them."""
    ids = [row["note_id"] for row in store.list_notes(user_id)]
    doomed = [i for i in ids if i not in keep]
    confirm_deletes("prune", user_id, doomed, len(ids), max_delete=max_delete, yes=yes)
    return doomed


def _check_unique(notes: Sequence[Note]) -> None:
    seen: set[str] = set()
    for note in notes:
        if note.id in seen:
            raise InvalidNote(f"two notes have the id {note.id!r}")
        seen.add(note.id)
