"""A dataset folder checked whole before a run reads any of it, as ``rag-core ingest`` checks a
folder of notes: every problem is a :class:`~evals.datasets.loader.DatasetError` with a code.

- ``DATASET_BAD_FILE``: an entry that is not a regular file or folder (a FIFO would hang the
  run, a device such as ``/dev/zero`` never ends), a symbolic link whose target is outside
  the dataset (a hub snapshot's links into its own ``blobs/`` folder are followed), or a file
  over its size limit (``MAX_FILE_BYTES`` for QA, pairs and the query log,
  ``MAX_NOTE_FILE_BYTES`` for a note file, ``MAX_DATASET_BYTES`` for all of them).
- ``DATASET_BAD_JSON``: a line of a JSON-lines file that is not a JSON object, named with its
  file and line.
- ``DATASET_BAD_TEXT``: a file that is not UTF-8, or a NUL character in it (raw or escaped).
- ``DATASET_BAD_NOTE``: a note that ``rag-core ingest`` would refuse (its message names it).

Entries whose names start with a dot are skipped, as the loaders skip them.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from evals.datasets.loader import QUERY_LOG_NAMES, DatasetError
from evals.datasets.loader import _resolve_root as resolve_root  # the loader's own lookup
from rag_core.errors import InvalidNote
from rag_core.ingest.notes import MAX_NOTE_FILE_BYTES
from rag_core.ingest.readers import load_notes

MAX_FILE_BYTES = 64 * 1024 * 1024  # one QA, pairs or query-log file
MAX_DATASET_BYTES = 512 * 1024 * 1024  # every file the run reads, together
JSONL_PARTS = ("qa", "semantic_pairs")


def check_dataset(source: str | Path) -> None:
    """Raise ``DatasetError`` for the first problem of the dataset ``source`` (a folder, or a
    hub id: its local snapshot)."""
    root = resolve_root(source)
    base = _link_base(root)
    total = 0
    for path in _entries(root):
        total += _check_entry(path, root, base)
        if total > MAX_DATASET_BYTES:
            raise DatasetError("DATASET_BAD_FILE", f"{root}: more than {MAX_DATASET_BYTES:,} "
                               "bytes of files; split the dataset")
    for path in _json_files(root):
        _check_jsonl(path)
    notes = root / "notes"
    for folder in sorted(p for p in notes.iterdir() if p.is_dir()) if notes.is_dir() else []:
        try:
            load_notes(folder)
        except InvalidNote as exc:
            raise DatasetError("DATASET_BAD_NOTE", exc.message) from None


def _link_base(root: Path) -> Path:
    """Where links may point: the dataset itself, or, for a hub snapshot
    (``.../datasets--o--n/snapshots/<rev>/``), its repository folder (which holds ``blobs``)."""
    resolved = root.resolve()
    return resolved.parent.parent if resolved.parent.name == "snapshots" else resolved


def _entries(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(folder)
        found += [here / d for d in dirs if (here / d).is_symlink()]
        found += [here / n for n in sorted(names) if not n.startswith(".")]
    return found


def check_notes(notes_dir: str | Path) -> None:
    """The checks of :func:`check_dataset` on a folder of notes alone (one folder per user,
    as ``evals generate`` reads it): every entry, then every user's notes as ``rag-core
    ingest`` reads them."""
    root = Path(notes_dir)
    if not root.is_dir():
        raise DatasetError("DATASET_NOT_FOUND", f"{root}: no such folder (one folder per "
                           "user of notes)")
    base, total = root.resolve(), 0
    for path in _entries(root):
        total += _check_entry(path, root, base, notes=True)
        if total > MAX_DATASET_BYTES:
            raise DatasetError("DATASET_BAD_FILE", f"{root}: more than {MAX_DATASET_BYTES:,} "
                               "bytes of notes")
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            load_notes(folder)
        except InvalidNote as exc:
            raise DatasetError("DATASET_BAD_NOTE", exc.message) from None


def _check_entry(path: Path, root: Path, base: Path, *, notes: bool = False) -> int:
    """The bytes of ``path`` that a run may read (0 for a file it never reads); ``notes``:
    every file is a note (a folder of notes checked alone)."""
    shown = path.relative_to(root)
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(base):
            raise DatasetError("DATASET_BAD_FILE", f"{shown}: a symbolic link to {target}, "
                               "outside the dataset; copy the file in instead")
    try:
        info = path.stat()
    except OSError as exc:
        raise DatasetError("DATASET_BAD_FILE", f"{shown}: cannot be read "
                           f"({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        return 0
    if not stat.S_ISREG(info.st_mode):
        raise DatasetError("DATASET_BAD_FILE", f"{shown}: not a regular file (a FIFO, device "
                           "or socket is not read)")
    in_notes = notes or shown.parts[0] == "notes"
    limit = MAX_NOTE_FILE_BYTES if in_notes else MAX_FILE_BYTES
    if info.st_size > limit:
        raise DatasetError("DATASET_BAD_FILE", f"{shown}: {info.st_size:,} bytes; at most "
                           f"{limit:,} are read from one file")
    return info.st_size


def _json_files(root: Path) -> list[Path]:
    files = [root / f"{stem}.jsonl" for stem in JSONL_PARTS]
    files += [p for stem in JSONL_PARTS for p in sorted((root / stem).glob("*.jsonl"))]
    files += [root / name for name in QUERY_LOG_NAMES]
    return [p for p in files if p.is_file()]


def _check_jsonl(path: Path) -> None:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError("DATASET_BAD_TEXT", f"{path}: not UTF-8 text (byte "
                           f"{exc.start})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        if "\x00" in line:
            raise DatasetError("DATASET_BAD_TEXT", f"{where}: a NUL character")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError("DATASET_BAD_JSON", f"{where}: {exc.msg} (column "
                               f"{exc.colno})") from None
        if not isinstance(row, dict):
            raise DatasetError("DATASET_BAD_JSON", f"{where}: not an object")
        if _holds_nul(row):
            raise DatasetError("DATASET_BAD_TEXT", f"{where}: a NUL character (\\u0000)")


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False
