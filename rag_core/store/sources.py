"""Where each note came from (a folder, a file in it, the file's content hash): recorded by
``rag-core ingest`` and ``rag-core sync``, read by ``sync`` to skip unchanged files and to find
the notes whose file is gone. PostgreSQL (``PgSources``, SQL in ``rag_core.store.sql.sources``)
or in process (``MemorySources``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag_core.store.records import Connect
from rag_core.store.sql import sources as q


@dataclass(frozen=True)
class SourceRow:
    """One note's origin: its id, its file (relative to the folder) and the file's sha256."""

    note_id: str
    path: str
    file_hash: str


class NoteSources(Protocol):
    def record(self, user_id: str, source: str, rows: Sequence[SourceRow]) -> None:
        """Record (or move) these notes as coming from ``source``; a row of a note the user
        does not have is ignored."""

    def rows(self, user_id: str, source: str) -> list[SourceRow]:
        """The user's notes recorded as coming from ``source``."""


class PgSources:
    def __init__(self, db: Connect) -> None:
        self._db = db

    def record(self, user_id: str, source: str, rows: Sequence[SourceRow]) -> None:
        if not rows:
            return
        params = [{"user_id": user_id, "source": source, "note_id": r.note_id,
                   "path": r.path, "file_hash": r.file_hash} for r in rows]
        with self._db("source record") as conn, conn.cursor() as cur:
            cur.executemany(q.RECORD_SOURCE, params)

    def rows(self, user_id: str, source: str) -> list[SourceRow]:
        with self._db("source listing") as conn:
            return [SourceRow(str(r[0]), str(r[1]), str(r[2]))
                    for r in conn.execute(q.SOURCE_ROWS, (user_id, source)).fetchall()]


class MemorySources:
    """In process; the memory store forgets a note's row when it deletes the note."""

    def __init__(self, exists: Callable[[str, str], bool]) -> None:
        self._exists = exists
        self._rows: dict[tuple[str, str], tuple[str, SourceRow]] = {}
        self._lock = threading.Lock()

    def record(self, user_id: str, source: str, rows: Sequence[SourceRow]) -> None:
        with self._lock:
            for row in rows:
                if self._exists(user_id, row.note_id):
                    self._rows[(user_id, row.note_id)] = (source, row)

    def rows(self, user_id: str, source: str) -> list[SourceRow]:
        with self._lock:
            found = [row for (user, _), (where, row) in self._rows.items()
                     if user == user_id and where == source]
        return sorted(found, key=lambda r: (r.path, r.note_id))

    def forget(self, user_id: str, note_id: str) -> None:
        with self._lock:
            self._rows.pop((user_id, note_id), None)
