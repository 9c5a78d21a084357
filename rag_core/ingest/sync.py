"""A folder kept in step with what the service holds for a user (``rag-core sync``).

The folder is recorded by its resolved path; each note read from it is recorded with its file
(relative to the folder) and the sha256 of that file's bytes (``Store.sources``), by ``sync``
and by ``rag-core ingest`` alike. A sync then:

1. reads the folder, skipping every file whose bytes hash as recorded (not parsed again);
2. ingests the notes of the files that are new or changed: a note whose stored hash is the same
   is skipped, a changed note has its chunks embedded again (``ingest_notes``);
3. records the files read;
4. deletes the notes recorded from this folder whose file is gone (or no longer gives them),
   through ``delete_note``, the path of ``DELETE``, so every cache layer forgets them and
   their last text goes to the trash; more deletes than the bound of
   ``rag_core.ingest.bulk_delete`` stop the sync before step 2 unless confirmed. A file
   that fails to read keeps the notes it gave before, and notes of the API or of another folder
   are never touched.

It is idempotent: a second run finds every file as recorded and changes nothing. A failure half
way leaves what was stored: the groups ingested stay, unrecorded files are read again next time.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag_core.errors import InvalidArgument
from rag_core.ingest.bulk_delete import confirm_deletes
from rag_core.ingest.ingestion import check_user, delete_note, ingest_notes, stored_hash
from rag_core.ingest.readers import FolderRead, ReadFailure, read_folder
from rag_core.store.sources import SourceRow

if TYPE_CHECKING:
    from rag_core.parts import Parts
    from rag_core.store.base import Store


@dataclass
class SyncReport:
    """What a sync did (or, with ``dry_run``, would do), note ids per outcome."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[ReadFailure] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        verb = "would be " if self.dry_run else ""
        return (f"{verb}added={len(self.added)} {verb}changed={len(self.changed)} "
                f"{verb}removed={len(self.removed)} unchanged={len(self.unchanged)} "
                f"failed={len(self.failed)} seconds={self.seconds:.2f}")


def folder_source(path: str | Path) -> str:
    """How a folder is recorded: its resolved absolute path."""
    return str(Path(path).resolve())


def record_sources(store: Store, user_id: str, found: FolderRead) -> None:
    """Record the notes of the files read as coming from the folder read. A file with a
    failure is recorded without its hash, so that the next sync reads (and reports) it again."""
    failed = {f.rel for f in found.failures}
    rows = [SourceRow(note_id, f.rel, "" if f.rel in failed else f.sha256)
            for f in found.files if f.parsed for note_id in f.note_ids]
    store.sources.record(user_id, folder_source(found.root), rows)


def sync_folder(parts: Parts, user_id: str, path: str | Path, *, dry_run: bool = False,
                progress: bool = False, max_delete: int | None = None,
                yes: bool = False) -> SyncReport:
    """Bring the user's notes from folder ``path`` in step with it (see the module). Deleting
    more than ``max_delete`` notes needs ``yes``: without it nothing is written
    (``CONFIRMATION_REQUIRED``, ``rag_core.ingest.bulk_delete``)."""
    start = time.perf_counter()
    check_user(user_id)
    root = Path(path)
    if not root.is_dir():
        raise InvalidArgument(f"{root}: not a folder; sync takes the folder of the notes")
    source = folder_source(root)
    store = parts.store
    recorded = store.sources.rows(user_id, source)
    known: dict[str, tuple[str, tuple[str, ...]]] = {}
    ids_by_file: dict[str, list[str]] = defaultdict(list)
    for row in recorded:
        ids_by_file[row.path].append(row.note_id)
    for row in recorded:
        known[row.path] = (row.file_hash, tuple(ids_by_file[row.path]))
    found = read_folder(root, known)
    report = SyncReport(failed=list(found.failures), dry_run=dry_run)
    keep = {note_id for f in found.files for note_id in f.note_ids}
    keep |= {note_id for f in found.failures for note_id in ids_by_file.get(f.rel, ())}
    report.unchanged = [i for f in found.files if not f.parsed for i in f.note_ids]
    stored = store.note_hashes(user_id, [n.id for n in found.notes])
    for note in found.notes:
        before = stored.get(note.id)
        if before is None:
            report.added.append(note.id)
        elif before != stored_hash(note, parts.settings):
            report.changed.append(note.id)
        else:
            report.unchanged.append(note.id)
    report.removed = sorted({r.note_id for r in recorded} - keep)
    if not dry_run:
        if report.removed:
            confirm_deletes("sync", user_id, report.removed, len(store.list_notes(user_id)),
                            max_delete=max_delete, yes=yes)
        if report.added or report.changed:
            ingest_notes(parts, user_id, [n for n in found.notes
                                          if n.id in set(report.added + report.changed)],
                         progress)
        record_sources(parts.store, user_id, found)
        report.removed = [i for i in report.removed if delete_note(parts, user_id, i)]
    report.seconds = time.perf_counter() - start
    return report
