"""A note written back from its history: an earlier revision, or its last text from the trash
(``Store.history``, ``rag_core.store.note_history``).

A restore is an ordinary write of that text: it is chunked and embedded again, bumps the user's
notes version (so cached answers of the older notes go), and the text it replaces becomes a
revision in turn. A note restored from the trash leaves it. The caller decides how the write is
made: ``ingest_notes`` (the CLI) or ``charged_ingest`` (the API: within the write quota).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rag_core.errors import InvalidArgument, NotFound
from rag_core.ingest.ingestion import IngestReport, check_user, ingest_notes
from rag_core.ingest.notes import check_note_id
from rag_core.store.note_history import NoteHistory

if TYPE_CHECKING:
    from rag_core.parts import Parts
    from rag_core.store.base import Store
    from rag_core.types import Note

Write = Callable[[Sequence["Note"]], IngestReport]


def history_of(store: Store) -> NoteHistory:
    """The store's history; ``InvalidArgument`` on a store that keeps none (in process)."""
    history = store.history
    if history is None:
        raise InvalidArgument("Revisions and the trash need the PostgreSQL store (DATABASE_URL "
                              "or the embedded server).")
    return history


def revisions(store: Store, user_id: str, note_id: str) -> dict[str, Any]:
    """The note's earlier texts, newest first; ``NotFound`` when the user has no such note,
    live, in the trash or in the revisions."""
    check_user(user_id)
    check_note_id(note_id)
    history = history_of(store)
    found = history.revisions(user_id, note_id)
    if not found and store.note_hash(user_id, note_id) is None \
            and history.trashed(user_id, note_id) is None:
        raise NotFound(f"There is no note {note_id!r}.")
    return {"note_id": note_id, "revisions": [r.to_dict() for r in found]}


def restore(parts: Parts, user_id: str, note_id: str, revision: int | None = None,
            write: Write | None = None) -> dict[str, Any]:
    """Write back revision ``revision`` of the note, or (None) the note from the trash;
    ``write`` makes the write (default ``ingest_notes``)."""
    check_user(user_id)
    check_note_id(note_id)
    history = history_of(parts.store)
    if revision is None:
        note = history.trashed(user_id, note_id)
        if note is None:
            raise NotFound(f"There is no note {note_id!r} in the trash (a deleted note stays "
                           f"{history.trash_days} days).")
    else:
        note = history.revision(user_id, note_id, revision)
        if note is None:
            raise NotFound(f"The note {note_id!r} has no revision {revision}.")
    if write is None:
        report = ingest_notes(parts, user_id, [note], progress=False)
    else:
        report = write([note])
    return {"note_id": note_id, "status": report.statuses.get(note_id, "unchanged"),
            "restored_from": "trash" if revision is None else "revision",
            "revision": revision, "notes_version": parts.store.notes_version(user_id)}
