"""Issue 79: backups as private as the data (0600 whatever the umask, age-encrypted on
request, restored either way) and erasures that survive a restore (the erasure log replayed in
the restore's transaction)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from other_account import DENIED, as_nobody

from rag_core import services
from rag_core.cli.main import main
from rag_core.config import Settings
from rag_core.errors import BackupKeyInvalid
from rag_core.ingest.ingestion import ingest_notes
from rag_core.ops.backup import backup, read_manifest, restore
from rag_core.parts import build_parts
from rag_core.pipeline import Pipeline
from rag_core.store.pgvector import store_for
from rag_core.types import Note

pytestmark = [pytest.mark.integration]

SECRET_LINE = "Ana keeps the key of the vestry under the third stone of the well."
NOTES = {"ana": Note(id="vestry", title="Vestry", body=SECRET_LINE),
         "ben": Note(id="wall", title="Walls", body="Nehemiah rebuilt the wall of Jerusalem "
                     "in 52 days.")}
QUESTION = "Where is the key of the vestry kept?"


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder of the system's temporary folder, as an operator's scratch space; 0755, so
    that only a file's own mode keeps another account out."""
    path = Path(tempfile.mkdtemp(prefix="r79b", dir=tempfile.gettempdir()))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def live(settings: Settings, database_url: str, redis_url: str) -> Settings:
    """Settings of a database with a note of each user, no process holding it open (a
    restore replaces every table)."""
    live = settings.with_overrides(database_url=database_url, redis_url=redis_url,
                                   llm="extractive")
    built = build_parts(live)
    try:
        for user, note in NOTES.items():
            ingest_notes(built, user, [note], progress=False)
    finally:
        built.close()
    return live


def key_file(folder: Path, name: str = "backup.key") -> Path:
    from pyrage import x25519

    path = folder / name
    path.write_text(f"# an age identity\n{x25519.Identity.generate()}\n")
    path.chmod(0o600)
    return path


def count(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else -1


def ana_rows(url: str) -> dict[str, int]:
    return {t: count(url, f"SELECT count(*) FROM {t} WHERE user_id = 'ana'")
            for t in ("notes", "chunks")}


def test_the_erasure_key_is_made_with_the_schema(store: object, database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT length(secret) FROM service_keys WHERE name = 'erasure'"
                           ).fetchone()
    assert row == (32,)


def test_a_backup_is_0600_whatever_the_umask_and_encrypted_when_asked(
        live: Settings, database_url: str, scratch: Path) -> None:
    old = os.umask(0)
    try:
        plain = backup(database_url, scratch / "plain.rcb")
        key = key_file(scratch)
        sealed = backup(database_url, scratch / "sealed.rcb", key_file=key)
    finally:
        os.umask(old)
    for report in (plain, sealed):
        assert stat.S_IMODE(os.stat(report.path).st_mode) == 0o600
        assert as_nobody("file", report.path) == DENIED
    assert plain.manifest.encryption == "none" and sealed.manifest.encryption == "age"
    assert read_manifest(sealed.path)[0].encryption == "age"
    # after the manifest line: pg_dump's own file, or age's (nothing of the dump readable)
    assert Path(plain.path).read_bytes().split(b"\n", 2)[2].startswith(b"PGDMP")
    assert Path(sealed.path).read_bytes().split(b"\n", 2)[2].startswith(b"age-encryption.org")
    store = store_for(live)
    try:
        with pytest.raises(BackupKeyInvalid, match="encrypt-key-file"):
            restore(database_url, sealed.path, force=True, client=None, migrate=list,
                    erasure_log=None)
        with pytest.raises(BackupKeyInvalid, match="another key"):
            restore(database_url, sealed.path, force=True, client=None, migrate=list,
                    erasure_log=None, key_file=key_file(scratch, "other.key"))
        assert ana_rows(database_url) == {"notes": 1, "chunks": 1}  # nothing was touched
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM notes")
        opened = restore(database_url, sealed.path, force=True, client=None,
                         migrate=store.ensure_schema, erasure_log=None, key_file=key)
        assert opened.tables["notes"] == 2 and ana_rows(database_url)["chunks"] == 1
        opened = restore(database_url, plain.path, force=True, client=None,
                         migrate=store.ensure_schema, erasure_log=None)
        assert opened.tables["notes"] == 2
    finally:
        store.close()


def test_an_erasure_after_the_backup_survives_the_restore(
        live: Settings, database_url: str, scratch: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Backup, erase, ``restore --force``: the erased user's rows are in no table, their
    question is not answered from their note, and the restore says it replayed one
    erasure."""
    state = tmp_path / "state"
    log = scratch / "logs" / "erasure.log"  # beside the backups, not in the state folder
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_PROFILE", "ci")
    monkeypatch.setenv("RAG_STATE_DIR", str(state))
    monkeypatch.setenv("RAG_ERASURE_LOG", str(log))
    file = scratch / "before-erase.rcb"
    try:
        assert main(["backup", str(file), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["manifest"]["encryption"] == "none"
        assert log.read_text() == ""  # made by the backup, so that a restore finds it
        assert main(["users", "erase", "ana", "--json"]) == 0
        capsys.readouterr()
        text = log.read_text()
        assert stat.S_IMODE(log.stat().st_mode) == 0o600 and len(text.splitlines()) == 1
        assert "ana" not in text and set(json.loads(text)) == {"user_key", "log_hash", "at"}
        assert main(["restore", str(file), "--force"]) == 0
        out = capsys.readouterr().out
        assert "1 erasures replayed" in out
        assert ana_rows(database_url) == {"notes": 0, "chunks": 0}
        with psycopg.connect(database_url) as conn:
            tables = [str(t) for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.columns "
                "WHERE column_name = 'user_id' AND table_schema = current_schema()")]
            audit = conn.execute("SELECT actor FROM audit_log WHERE action = 'user_erased' "
                                 "ORDER BY id").fetchall()
        found = [t for t in tables
                 if count(database_url, f"SELECT count(*) FROM {t} WHERE user_id = 'ana'")]
        # the backup predates the erasure: its audit row is the replay's
        assert found == [] and audit == [("restore (erasure log)",)]
        again = build_parts(live)
        try:
            answer = Pipeline(again).ask("ana", QUESTION)
            assert "third stone" not in answer.answer and not answer.citations
            assert again.store.get_note("ben", "wall") is not None  # the others stay
        finally:
            again.close()
        assert main(["restore", str(file), "--force", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["erasures_replayed"] == 1 and report["erased_rows"] >= 2
    finally:
        services.stop_all(Settings(profile="ci", state_dir=state, database_url=database_url))


def test_a_restore_without_its_erasure_log_refuses(
        live: Settings, database_url: str, scratch: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_PROFILE", "ci")
    monkeypatch.setenv("RAG_STATE_DIR", str(state))
    file = scratch / "b.rcb"
    try:
        assert main(["backup", str(file)]) == 0
        (state / "erasure.log").unlink()  # the log lost with the data disk
        assert main(["restore", str(file), "--force"]) == 2
        assert "ERASURE_LOG_UNREADABLE" in capsys.readouterr().err
        assert ana_rows(database_url)["notes"] == 1
        assert main(["restore", str(file), "--force"]) == 2  # still refused
        assert main(["restore", str(file), "--force", "--no-erasure-log"]) == 0
        assert "--no-erasure-log" in capsys.readouterr().out
    finally:
        services.stop_all(Settings(profile="ci", state_dir=state, database_url=database_url))


def test_an_erasure_whose_log_cannot_be_written_erases_nothing(
        live: Settings, database_url: str, tmp_path: Path) -> None:
    from rag_core.errors import ErasureLogUnwritable
    from rag_core.ops.erase import erase_user

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    built = build_parts(live)
    try:
        client = getattr(built.caches.query, "client", None)
        with pytest.raises(ErasureLogUnwritable):
            erase_user(built.store, built.caches, client, "ana", log_key=None, actor="cli",
                       erasure_log=blocked / "erasure.log")  # its folder is a file
    finally:
        built.close()
    assert ana_rows(database_url) == {"notes": 1, "chunks": 1}


def test_a_user_who_came_back_before_the_backup_keeps_what_they_wrote(
        live: Settings, database_url: str, scratch: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An erasure the backup holds already is passed over: the user's notes written after it
    (and before the backup) come back with the restore."""
    state = tmp_path / "state"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_PROFILE", "ci")
    monkeypatch.setenv("RAG_STATE_DIR", str(state))
    file = scratch / "after-return.rcb"
    try:
        assert main(["users", "erase", "ana"]) == 0
        built = build_parts(live)
        try:
            ingest_notes(built, "ana", [NOTES["ana"]], progress=False)  # back, and writing
        finally:
            built.close()
        assert main(["backup", str(file)]) == 0
        capsys.readouterr()
        assert main(["restore", str(file), "--force", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["erasures_replayed"] == 0 and report["erased_rows"] == 0
        assert ana_rows(database_url) == {"notes": 1, "chunks": 1}
    finally:
        services.stop_all(Settings(profile="ci", state_dir=state, database_url=database_url))
