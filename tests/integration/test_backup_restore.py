"""Backup and restore (``rag_core.ops.backup``, ``rag-core backup|restore``) on a real
PostgreSQL and Redis: a database with notes, answers, verdicts, spend, an erasure, a deleted
note in the trash and a revision comes back row for row into an empty one, retrieves the same
chunks for the same question, reports the same spend, and starts with cold caches; a truncated
file, another format, a newer schema and a database with data are refused with a code and
change nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rag_core import services
from rag_core.answers.log import flush_query_log
from rag_core.cli.main import main
from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.errors import BackupInvalid, RestoreNotEmpty
from rag_core.ingest.ingestion import delete_note, ingest_notes
from rag_core.ops.backup import backup, forget_redis, read_manifest, restore, table_rows
from rag_core.ops.erase import erase_user
from rag_core.parts import Parts, build_parts
from rag_core.pipeline import Pipeline
from rag_core.store.pgvector import store_for
from rag_core.types import Note, TokenUsage

pytestmark = [pytest.mark.integration]

USER = "amara"
NOTES = [Note(id="wall", title="Walls", body="Nehemiah rebuilt the wall of Jerusalem in 52 "
              "days with a sword in one hand and a trowel in the other."),
         Note(id="well", title="The well", body="The woman at the well left her water jar "
              "and ran to tell the town."),
         Note(id="gone", title="Deleted", body="Zerubbabel laid the temple's foundation.")]
QUESTIONS = ["How long did the wall take?", "What did the woman leave at the well?"]


@pytest.fixture
def second_url(pg_server_url: str) -> Iterator[str]:
    """A new database on the test server, empty: not even the vector extension."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = pg_server_url.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    yield url
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def parts(settings: Settings, database_url: str, redis_url: str) -> Iterator[Parts]:
    built = build_parts(settings.with_overrides(database_url=database_url, redis_url=redis_url,
                                                llm="extractive", query_log=True))
    ingest_notes(built, USER, NOTES, progress=False)
    ingest_notes(built, "leaving", NOTES[:1], progress=False)
    yield built
    built.close()


def retrieved(parts: Parts) -> list[list[str]]:
    pipe = Pipeline(parts)
    return [[c.chunk_id for c in pipe.search(USER, q, 3)] for q in QUESTIONS]


def fill(parts: Parts) -> None:
    for q in QUESTIONS:
        Pipeline(parts).ask(USER, q)
    held = parts.ledger.reserve(USER, 0.01)
    parts.ledger.commit(held, 0.0042, TokenUsage(input_tokens=300, output_tokens=40))
    client = getattr(parts.caches.query, "client", None)
    erase_user(parts.store, parts.caches, client, "leaving", log_key=None, actor="cli",
               erasure_log=None)
    assert delete_note(parts, USER, "gone")  # into the trash
    ingest_notes(parts, USER, [Note(id="well", title="The well", body="The woman at the well "
                                    "left her water jar and ran to the town.")],
                 progress=False)  # the text it replaced: a revision
    flush_query_log(parts.records)
    parts.ledger.requests.flush()


def test_a_backup_comes_back_whole_into_an_empty_database(
        parts: Parts, settings: Settings, database_url: str, second_url: str, redis_url: str,
        redis_client: Any, tmp_path: Path) -> None:
    fill(parts)
    before, spent = retrieved(parts), reporting.spend(parts.ledger, USER)
    # the cache counts this process gathered go to Redis now, not on their 1 s timer after the
    # restore emptied it (under coverage the timer fired after the restore)
    assert parts.caches.counters is not None and parts.caches.counters.flush()
    rows = table_rows(database_url)
    report = backup(database_url, tmp_path / "b.rcb")
    assert report.manifest.tables == rows and report.bytes > report.manifest.dump_bytes > 0
    assert (rows["note_revisions"], rows["note_trash"]) == (1, 1)

    other = store_for(settings.with_overrides(database_url=second_url))
    try:
        restored = restore(second_url, report.path, force=False, client=redis_client,
                           migrate=other.ensure_schema, erasure_log=None)
    finally:
        other.close()
    assert restored.tables == rows and restored.migrations_applied == []
    assert list(redis_client.scan_iter(match="rag:*")) == []  # caches cold, ledger to seed
    again = build_parts(settings.with_overrides(database_url=second_url, redis_url=redis_url,
                                                llm="extractive"))
    try:
        assert retrieved(again) == before
        assert again.ledger.reserve(USER, 0.001) is not None  # seeds the day from PostgreSQL
        assert reporting.spend(again.ledger, USER) == pytest.approx(spent)
        assert again.store.get_note(USER, "gone") is None
        history = again.store.history
        assert history is not None
        assert history.trashed(USER, "gone") == NOTES[2]  # restorable still
        assert len(history.revisions(USER, "well")) == 1
        answer = Pipeline(again).ask(USER, QUESTIONS[0])
        assert answer.cache["query"] != "hit"
    finally:
        again.close()
    with psycopg.connect(second_url) as conn:
        audit = conn.execute("SELECT action FROM audit_log").fetchall()
    assert audit == [("user_erased",)]


def test_bad_files_and_a_database_with_data_are_refused(
        parts: Parts, database_url: str, second_url: str, redis_client: Any,
        tmp_path: Path) -> None:
    good = Path(backup(database_url, tmp_path / "b.rcb").path)
    data = good.read_bytes()
    cases = {"truncated": data[:-100], "other format": b"PGDMP" + data[20:],
             "empty": b""}
    head, manifest, dump = data.split(b"\n", 2)
    newer = json.loads(manifest) | {"schema_version": 999}
    cases["newer schema"] = head + b"\n" + json.dumps(newer).encode() + b"\n" + dump
    for name, content in cases.items():
        bad = tmp_path / f"{name}.rcb"
        bad.write_bytes(content)
        with pytest.raises(BackupInvalid):
            read_manifest(bad)
        with pytest.raises(BackupInvalid):
            restore(second_url, bad, force=True, client=redis_client, migrate=list,
                    erasure_log=None)
    assert table_rows(second_url) == {}  # nothing was half done
    keys = sorted(redis_client.scan_iter(match="rag:*"))
    rows = table_rows(database_url)
    with pytest.raises(RestoreNotEmpty, match="--force"):
        restore(database_url, good, force=False, client=redis_client, migrate=list,
                erasure_log=None)
    assert table_rows(database_url) == rows and sorted(redis_client.scan_iter("rag:*")) == keys
    forget_redis(redis_client)


def test_the_commands_exit_with_codes(
        parts: Parts, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_PROFILE", "ci")
    monkeypatch.setenv("RAG_STATE_DIR", str(tmp_path))
    file = tmp_path / "cli.rcb"
    try:
        assert main(["backup", str(file), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["manifest"]["tables"]["notes"] == 4
        assert main(["restore", str(file)]) == 2
        assert "RESTORE_NOT_EMPTY" in capsys.readouterr().err
        (tmp_path / "junk").write_text("hello")
        assert main(["restore", str(tmp_path / "junk")]) == 2
        assert "BACKUP_INVALID" in capsys.readouterr().err
        assert main(["users", "erase", "nobody.9"]) == 1
        assert "USER_NOT_FOUND" in capsys.readouterr().err
        assert main(["users", "erase", "leaving", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["rows"]["notes"] == 1
    finally:  # the commands started an embedded Redis in this state folder: not left running
        services.stop_all(Settings(profile="ci", state_dir=tmp_path, database_url=database_url))
