"""An export's files are hashed once: later loads trust files whose size, time and inode are
unchanged since their hashes matched, and hash again (and refuse) files changed since."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag_core.embedding import export as embed_export
from rag_core.embedding.export import GRAPH, TOKENIZER, VERIFIED, _write_manifest, read_export

META = {"input_names": ["input_ids", "attention_mask"], "max_seq_length": 256, "dim": 384,
        "pad_id": 0, "pad_token": "[PAD]"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / GRAPH).write_bytes(b"graph" * 1000)
    (tmp_path / TOKENIZER).write_text("{}")
    _write_manifest(tmp_path, META)
    return tmp_path


def test_files_are_hashed_once_while_unchanged(folder: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_export(folder) is not None
    assert (folder / VERIFIED).exists()

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} hashed again")

    monkeypatch.setattr(embed_export, "_sha256", no_hashing)
    found = read_export(folder)
    assert found is not None and found.dim == 384


def test_a_file_written_again_is_hashed_again_and_refused(folder: Path) -> None:
    assert read_export(folder) is not None
    graph = folder / GRAPH
    st = graph.stat()
    graph.write_bytes(b"GRAPH" * 1000)  # same size, other bytes
    os.utime(graph, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert read_export(folder) is None
