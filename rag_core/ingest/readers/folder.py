"""A folder of notes read file by file: what one file cannot give is reported with its code and
name, and the rest of the folder is read.

Files are found recursively in name order, hidden files and folders skipped, without following
symbolic links: a link inside the folder is skipped (its target is read as itself), a link out
of the folder is ``LINK_OUTSIDE``. Each file is checked before it is opened: a regular file
(never a device, FIFO or socket) of at most ``MAX_NOTE_FILE_BYTES`` (``FILE_TOO_LARGE``), with a
name free of control characters (``BAD_FILE_NAME``). Two notes with one id: the second is a
failure naming the first.

``read_folder`` gives the notes, the failures and, per file, its content hash and the ids of
its notes (what ``rag-core ingest`` and ``rag-core sync`` record). A file whose hash is in
``known`` is not parsed again: its notes are the ones recorded.
"""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from rag_core.errors import InvalidNote
from rag_core.ingest.notes import MAX_NOTE_FILE_BYTES
from rag_core.ingest.readers.errors import (
    BAD_FILE_NAME,
    FILE_TOO_LARGE,
    LINK_OUTSIDE,
    NOT_A_FILE,
    FileRefused,
)
from rag_core.ingest.readers.files import Origin, kind_of, read_bytes
from rag_core.types import Note


@dataclass(frozen=True)
class ReadFailure:
    """One file (or one line of one) that gave no note: its path, the code and the message."""

    path: str
    code: str
    message: str
    rel: str = ""  # the file's path relative to the folder read


@dataclass(frozen=True)
class FileRead:
    """One file read (or recognised by its hash): its path relative to the folder, the sha256
    of its bytes and the ids of the notes it gave."""

    rel: str
    sha256: str
    note_ids: tuple[str, ...]
    parsed: bool = True
    dropped: int = 0  # derived values dropped or shortened to fit a note (``derived``)


@dataclass
class FolderRead:
    root: Path
    notes: list[Note] = field(default_factory=list)
    files: list[FileRead] = field(default_factory=list)
    failures: list[ReadFailure] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        """Derived values dropped or shortened to fit a note, over every file read."""
        return sum(f.dropped for f in self.files)

    def first_error(self) -> InvalidNote | None:
        """The first failure as the error it was (``FileRefused`` keeps its code)."""
        if not self.failures:
            return None
        first = self.failures[0]
        if first.code == "INVALID_NOTE":
            return InvalidNote(first.message)
        return FileRefused(first.code, first.message)


def read(path: str | Path, root: str | Path | None = None) -> list[Note]:
    """The notes of one file (``root``: the folder its id and series are taken relative to);
    the first problem raises its coded ``InvalidNote``."""
    file = Path(path)
    base = Path(root) if root is not None else file.parent
    found = FolderRead(base)
    _read_file(file, PurePosixPath(file.relative_to(base).as_posix()), found, {}, {})
    error = found.first_error()
    if error is not None:
        raise error
    return found.notes


def load_notes(path: str | Path) -> list[Note]:
    """Every note of a file or folder, or the first problem raised (a caller that wants all of
    a folder or nothing: the harness's datasets, ``ingest_path``)."""
    found = read_folder(path)
    error = found.first_error()
    if error is not None:
        raise error
    return found.notes


def read_folder(path: str | Path,
                known: Mapping[str, tuple[str, tuple[str, ...]]] | None = None) -> FolderRead:
    """The notes of every file under ``path`` (or of the one file ``path``), and what failed.

    ``known``: relative path -> (sha256, note ids) of files read before; a file with the same
    hash is not parsed, its note ids are taken as they were.
    """
    root = Path(path)
    if not root.exists() and not root.is_symlink():
        raise InvalidNote(f"{root}: no such file or folder")
    found = FolderRead(root if root.is_dir() else root.parent)
    seen: dict[str, str] = {}
    if not root.is_dir():
        _read_file(root, PurePosixPath(root.name), found, seen, known or {})
        return found
    base = root.resolve()
    for folder, dirs, names in os.walk(root, followlinks=False):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted([*dirs, *names]):
            file = here / name
            rel = PurePosixPath(file.relative_to(root).as_posix())
            if file.is_symlink():
                target = file.resolve()
                if not target.is_relative_to(base):
                    found.failures.append(ReadFailure(str(file), LINK_OUTSIDE, (
                        f"{file}: a symbolic link to {target}, outside {root}; links out of "
                        "the folder are not followed"), rel.as_posix()))
                continue  # inside the folder: its target is read as itself
            if name in names and not name.startswith("."):
                _read_file(file, rel, found, seen, known or {})
    return found


def _read_file(file: Path, rel: PurePosixPath, found: FolderRead, seen: dict[str, str],
               known: Mapping[str, tuple[str, tuple[str, ...]]]) -> None:
    try:
        data, modified = _file_bytes(file)
        digest = hashlib.sha256(data).hexdigest()
        before = known.get(rel.as_posix())
        if before is not None and before[0] == digest:
            found.files.append(FileRead(rel.as_posix(), digest, before[1], parsed=False))
            for note_id in before[1]:
                seen.setdefault(note_id, str(file))
            return
        kind_of(str(file), data)
        dropped: list[str] = []
        notes, bad_lines = read_bytes(data, Origin(rel, modified, where=str(file)),
                                      dropped=dropped)
    except InvalidNote as exc:
        found.failures.append(ReadFailure(str(file), exc.code, exc.message, rel.as_posix()))
        return
    for line in bad_lines:
        found.failures.append(ReadFailure(f"{file}:{line.line}", line.error.code,
                                          line.error.message, rel.as_posix()))
    kept: list[str] = []
    for note in notes:
        if note.id in seen:
            found.failures.append(ReadFailure(str(file), "INVALID_NOTE", (
                f"{file}: duplicate note id {note.id!r} (first seen in {seen[note.id]})"),
                rel.as_posix()))
            continue
        seen[note.id] = str(file)
        found.notes.append(note)
        kept.append(note.id)
    found.files.append(FileRead(rel.as_posix(), digest, tuple(kept), dropped=len(dropped)))


def _file_bytes(file: Path) -> tuple[bytes, float]:
    """The file's bytes and modification time, after the checks made before opening it."""
    name = str(file)
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        shown = repr(name)[1:-1]
        raise FileRefused(BAD_FILE_NAME, f"{shown}: the file's name holds the control or "
                                         f"undecodable character U+{ord(bad):04X}; rename it")
    try:
        info = file.stat()
    except OSError as exc:
        raise InvalidNote(f"{file}: cannot be read ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(NOT_A_FILE, f"{file}: not a regular file (a device, FIFO or socket "
                                      "is not read)")
    if info.st_size > MAX_NOTE_FILE_BYTES:
        raise FileRefused(FILE_TOO_LARGE, f"{file}: {info.st_size:,} bytes; a note file may "
                                          f"have at most {MAX_NOTE_FILE_BYTES:,} bytes")
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_NOTE_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidNote(f"{file}: cannot be read ({exc.strerror})") from exc
    if len(data) > MAX_NOTE_FILE_BYTES:  # it grew since stat
        raise FileRefused(FILE_TOO_LARGE, f"{file}: more than {MAX_NOTE_FILE_BYTES:,} bytes")
    return data, info.st_mtime
