"""Finding 11: bad characters, bad user ids and symbolic links at ingest, against the real
PostgreSQL. A folder is validated whole before anything is written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rag_core.config import Settings
from rag_core.embedding import SentenceTransformerEmbedder
from rag_core.errors import InvalidNote, InvalidUser
from rag_core.ingest.ingestion import ingest_notes, ingest_path
from rag_core.parts import (
    Parts,
    build_caches,
    build_generator,
    build_judges,
    build_ledger,
    build_limiters,
)
from rag_core.store.pgvector import PgVectorStore
from rag_core.store.user_limits import user_limits_for
from rag_core.tokens import TokenCounter
from rag_core.types import Note

pytestmark = pytest.mark.integration

GOOD = """---
id: {id}
title: Note {id}
date: 2024-03-10
speaker: Ruth Okafor
---
Faith is the assurance of things hoped for. Abraham waited and still trusted the promise.
"""


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture
def cfg(db_settings: Settings) -> Settings:
    return db_settings


@pytest.fixture
def parts(store: PgVectorStore, embedder: SentenceTransformerEmbedder, cfg: Settings) -> Parts:
    """The real store and model; caches, generator and ledger in process (not under test)."""
    judges = build_judges(cfg, store)
    return Parts(settings=cfg, store=store, embedder=embedder,
                 caches=build_caches(cfg, None, judges.semantic),
                 generator=build_generator(cfg, None),
                 ledger=build_ledger(cfg, None, store), counter=TokenCounter(), judges=judges,
                 limiters=build_limiters(cfg, None, user_limits_for(store)))


def _folder(root: Path, bad_name: str, bad_text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(3):  # good notes sorted before and after the bad one
        (root / f"a{i}.md").write_text(GOOD.format(id=f"a{i}"), encoding="utf-8")
        (root / f"z{i}.md").write_text(GOOD.format(id=f"z{i}"), encoding="utf-8")
    (root / bad_name).write_text(bad_text, encoding="utf-8")
    return root


@pytest.mark.parametrize("bad_name,bad_text,where", [
    ("m.md", GOOD.format(id="m").replace("Abraham waited", "Abraham\x00 waited"), "m.md:7"),
    ("m.md", GOOD.format(id="m").replace("Ruth Okafor", "Ruth\x00Okafor"), "m.md:5: the front"),
    ("m.md", GOOD.format(id="m").replace("Faith is", "Faith\x1b[31m is"), "m.md:7"),
    ("m.jsonl", json.dumps({"id": "m", "title": "T\u0000", "body": "Some text here."}) + "\n",
     "m.jsonl:1"),
    ("m.jsonl", json.dumps({"id": "m", "title": "T", "body": "Text \ud800 here."}) + "\n",
     "m.jsonl:1"),
])
def test_control_characters_are_invalid_note_and_nothing_is_written(
        parts: Parts, store: PgVectorStore,
        tmp_path: Path, bad_name: str, bad_text: str, where: str) -> None:
    root = _folder(tmp_path / "notes", bad_name, bad_text)
    with pytest.raises(InvalidNote) as info:
        ingest_path(parts, "ann", root, progress=False)
    assert info.value.code == "INVALID_NOTE" and info.value.status == 422
    assert where in info.value.message and str(root) in info.value.message
    assert "U+" in info.value.message
    assert store.count_chunks("ann") == 0 and store.list_notes("ann") == []
    # tab, line feed and carriage return stay allowed
    fixed = GOOD.format(id="m").replace("Faith is", "Faith\tis\r")
    if bad_name.endswith(".jsonl"):
        fixed = json.dumps({"id": "m", "title": "T", "body": "Faith\tis\r here."}) + "\n"
    (root / bad_name).write_text(fixed, encoding="utf-8")
    report = ingest_path(parts, "ann", root, progress=False)
    assert report.inserted == 7 and store.count_chunks("ann") >= 7


def test_notes_made_in_code_are_checked_before_writing(
        parts: Parts, store: PgVectorStore) -> None:
    good = Note(id="ok", title="Fine", body="A good body of text about grace.")
    bad = Note(id="bad", title="Fine", body="A body with a NUL \x00 inside.")
    with pytest.raises(InvalidNote, match="'bad'.*U\\+0000"):
        ingest_notes(parts, "ann", [good, bad], progress=False)
    assert store.list_notes("ann") == []


@pytest.mark.parametrize("user", ["a b*", "x" * 9000, "", "amara\n", "ann\x00", "é"])
def test_invalid_user_ids_are_refused_at_ingest(
        parts: Parts, store: PgVectorStore,
        tmp_path: Path, user: str) -> None:
    root = _folder(tmp_path / "notes", "m.md", GOOD.format(id="m"))
    with pytest.raises(InvalidUser) as info:
        ingest_path(parts, user, root, progress=False)
    assert info.value.code == "INVALID_USER" and info.value.status == 422
    assert len(info.value.message) < 200
    with pytest.raises(InvalidUser):
        ingest_notes(parts, user, [], progress=False)


def test_symlinks_out_of_the_folder_are_not_followed(
        parts: Parts, store: PgVectorStore,
        tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "diary.md"
    secret.parent.mkdir()
    secret.write_text(GOOD.format(id="diary"), encoding="utf-8")
    root = _folder(tmp_path / "notes", "m.md", GOOD.format(id="m"))
    os.symlink(secret, root / "linked.md")
    with pytest.raises(InvalidNote, match="linked.md.*outside"):
        ingest_path(parts, "ann", root, progress=False)
    assert store.list_notes("ann") == []
    (root / "linked.md").unlink()
    os.symlink(secret.parent, root / "linked_dir")
    with pytest.raises(InvalidNote, match="linked_dir.*outside"):
        ingest_path(parts, "ann", root, progress=False)
    (root / "linked_dir").unlink()
    os.symlink(root / "a0.md", root / "again.md")  # inside the folder: skipped, not doubled
    report = ingest_path(parts, "ann", root, progress=False)
    assert report.notes_seen == 7
    assert "diary" not in {n["note_id"] for n in store.list_notes("ann")}
