"""Readers of the formats people keep notes in, behind one interface: ``read(path) -> notes``.

``.md`` (plain, an Obsidian vault, a Notion export), ``.txt``, ``.pdf``, ``.docx``,
``.html``/``.htm`` and ``.jsonl`` (``files``: how each field is found); a folder read file by
file, each failure reported with its code and the rest read (``folder``).
"""

from rag_core.ingest.readers.errors import FileRefused
from rag_core.ingest.readers.files import KINDS, Origin, kind_of, read_bytes, rel_id
from rag_core.ingest.readers.folder import (
    FileRead,
    FolderRead,
    ReadFailure,
    load_notes,
    read,
    read_folder,
)

__all__ = ["KINDS", "FileRead", "FileRefused", "FolderRead", "Origin", "ReadFailure",
           "kind_of", "load_notes", "read", "read_bytes", "read_folder", "rel_id"]
