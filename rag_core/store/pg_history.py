"""A note's revisions and the trash of deleted notes in PostgreSQL (``NoteHistory`` of
``rag_core.store.note_history``; SQL in ``rag_core.store.sql.note_history``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rag_core.store.base import NoteWrite, stored_note
from rag_core.store.note_history import Revision, Trashed, wall_clock
from rag_core.store.records import Connect
from rag_core.store.sql import note_history as q
from rag_core.types import Note

if TYPE_CHECKING:
    from rag_core.store.pool import Conn


class PgNoteHistory:
    def __init__(self, db: Connect, revisions_kept: int, trash_days: int,
                 clock: Callable[[], datetime] = wall_clock) -> None:
        self._db = db
        self.revisions_kept = revisions_kept  # RAG_NOTE_REVISIONS
        self.trash_days = trash_days  # RAG_NOTE_TRASH_DAYS (0: a delete is for good)
        self.clock = clock

    # --- inside the store's writes ---------------------------------------------------------

    def keep_revisions(self, conn: Conn, user_id: str,
                       items: Sequence[NoteWrite], replaced: set[str]) -> None:
        """Before ``items`` are written: the texts of the live notes they replace (those in
        ``replaced``) and of the trashed notes they bring back become revisions."""
        ids = [it.note.id for it in items]
        params = {"user_id": user_id, "now": self.clock(), "ids": ids,
                  "bodies": [it.note.body for it in items],
                  "metas": [json.dumps(it.note.metadata()) for it in items]}
        if self.revisions_kept > 0 and replaced:
            conn.execute(q.KEEP_REVISIONS, params)
        conn.execute(q.TRASH_TO_REVISIONS, params)  # a new note: out of the trash
        conn.execute(q.TRIM_REVISIONS, {"user_id": user_id, "ids": ids,
                                        "keep": self.revisions_kept})

    def trash(self, conn: Conn, user_id: str, note_id: str) -> None:
        """Before the note is deleted: its last text into the trash (or, with no trash, its
        revisions out)."""
        if self.trash_days > 0:
            conn.execute(q.TRASH_NOTE, {"user_id": user_id, "note_id": note_id,
                                        "now": self.clock()})
        else:
            conn.execute(q.DELETE_REVISIONS, (user_id, note_id))

    # --- reads and purges ------------------------------------------------------------------

    def revisions(self, user_id: str, note_id: str) -> list[Revision]:
        with self._db("revision listing") as conn:
            rows = conn.execute(q.LIST_REVISIONS, (user_id, note_id)).fetchall()
        return [Revision(int(r[0]), str(r[1]), dict(r[2] or {}), r[3], r[4]) for r in rows]

    def revision(self, user_id: str, note_id: str, revision: int) -> Note | None:
        with self._db("revision lookup") as conn:
            row = conn.execute(q.GET_REVISION, (user_id, note_id, revision)).fetchone()
        return None if row is None else stored_note(note_id, row[0] or {}, row[1])

    def trash_list(self, user_id: str) -> list[Trashed]:
        keep = timedelta(days=self.trash_days)
        with self._db("trash listing") as conn:
            rows = conn.execute(q.LIST_TRASH, {"user_id": user_id,
                                               "cutoff": self._cutoff()}).fetchall()
        return [Trashed(str(r[0]), str(r[1]), dict(r[2] or {}), r[3], r[4], r[4] + keep)
                for r in rows]

    def trashed(self, user_id: str, note_id: str) -> Note | None:
        with self._db("trash lookup") as conn:
            row = conn.execute(q.GET_TRASHED, {"user_id": user_id, "note_id": note_id,
                                               "cutoff": self._cutoff()}).fetchone()
        return None if row is None else stored_note(note_id, row[0] or {}, row[1])

    def purge(self, user_id: str, note_id: str | None = None) -> tuple[int, int]:
        return self._purge(self.clock(), user_id, note_id)

    def purge_expired(self) -> tuple[int, int]:
        return self._purge(self._cutoff(), None, None)

    def _cutoff(self) -> datetime:
        return self.clock() - timedelta(days=self.trash_days)

    def _purge(self, cutoff: datetime, user_id: str | None,
               note_id: str | None) -> tuple[int, int]:
        with self._db("trash purge") as conn:
            row = conn.execute(q.PURGE_TRASH, {"cutoff": cutoff, "user_id": user_id,
                                               "note_id": note_id}).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))
