"""A note's revisions and the trash of deleted notes: what the store's ``history`` answers
(in PostgreSQL: ``rag_core.store.pg_history``, SQL in ``rag_core.store.sql.note_history``).

The store's writes call ``keep_revisions`` and its deletes ``trash`` inside their own
transaction (under the user's lock), so every path that changes or deletes a note (the API,
``rag-core delete``, ``sync``, ``ingest --prune``, a bulk prune) keeps what it replaced. What
is kept is text and fields only, never chunks or vectors: nothing here is searched or cached.
A restore writes the kept text back through the ordinary ingestion (``rag_core.ingest.restore``),
which embeds it again.

Time comes from ``clock`` (a test moves it): a trash row is restorable while its delete is
less than ``trash_days`` old by that clock, and ``purge_expired`` takes it out after.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from rag_core.types import Note

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 3600.0  # the expired trash is swept at most this often per process


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Revision:
    """One earlier text of a note: its number, hash, fields and times."""

    revision: int
    content_hash: str
    metadata: dict[str, Any]
    written_at: datetime
    replaced_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "title": self.metadata.get("title"),
                "content_hash": self.content_hash, "written_at": self.written_at.isoformat(),
                "replaced_at": self.replaced_at.isoformat()}


@dataclass(frozen=True)
class Trashed:
    """A deleted note in the trash, and when it leaves it for good."""

    note_id: str
    content_hash: str
    metadata: dict[str, Any]
    written_at: datetime
    deleted_at: datetime
    purge_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"note_id": self.note_id, "title": self.metadata.get("title"),
                "content_hash": self.content_hash, "written_at": self.written_at.isoformat(),
                "deleted_at": self.deleted_at.isoformat(),
                "purge_at": self.purge_at.isoformat()}


class NoteHistory(Protocol):
    revisions_kept: int
    trash_days: int

    def revisions(self, user_id: str, note_id: str) -> list[Revision]:
        """The note's earlier texts, newest first."""

    def revision(self, user_id: str, note_id: str, revision: int) -> Note | None:
        """One earlier text as a note, or None when the note has no such revision."""

    def trash_list(self, user_id: str) -> list[Trashed]:
        """The user's deleted notes still in the trash, latest delete first."""

    def trashed(self, user_id: str, note_id: str) -> Note | None:
        """A deleted note's last text, or None when it is not (or no longer) in the trash."""

    def purge(self, user_id: str, note_id: str | None = None) -> tuple[int, int]:
        """The user's trash (or one note of it) out now, with those notes' revisions;
        (trash rows, revisions) removed."""

    def purge_expired(self) -> tuple[int, int]:
        """Every user's trash older than ``trash_days`` out, with those notes' revisions."""


class TrashSweep:
    """The expired trash out, at most once per ``SWEEP_EVERY_S`` in a process: run beside the
    service's pruning of old records (``rag_core.answers.log``) and by every delete and write
    of notes (the CLI's too). A restore never depends on it: a trash row past its time is not
    restorable, swept or not. A failing sweep is logged and tried again next time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at = -SWEEP_EVERY_S

    def __call__(self, history: NoteHistory | None, *, force: bool = False) -> tuple[int, int]:
        if history is None:
            return (0, 0)
        now = time.monotonic()
        with self._lock:
            if not force and now - self._at < SWEEP_EVERY_S:
                return (0, 0)
            self._at = now
        try:
            return history.purge_expired()
        except Exception as exc:  # upkeep: the write or answer it sits beside goes on
            log.warning("trash sweep failed: %s", type(exc).__name__)
            return (0, 0)


sweep_trash = TrashSweep()
