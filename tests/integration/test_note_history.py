"""Revisions and the trash on the real PostgreSQL, Redis and embedding model: a note updated twice
has its two earlier texts listed and restorable; a deleted note is never answered from (cached
or not) and is restorable from the trash until its time passes on a clock the test moves, then
gone from every table; a sync that would delete 58 of 60 notes deletes nothing without
``--yes`` (exit 2); an erasure leaves no revision or trash row."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rag_core.answer import Answer
from rag_core.cli import main as cli
from rag_core.errors import ConfirmationRequired, NotFound
from rag_core.ingest import restore
from rag_core.ingest.ingestion import delete_note, ingest_notes
from rag_core.ingest.sync import sync_folder
from rag_core.ops.erase import erase_user
from rag_core.pipeline import Pipeline
from rag_core.store.note_history import wall_clock
from rag_core.types import Note

pytestmark = pytest.mark.integration

USER = "ruth.h1"
FACTS = ["The vestry key hangs on the brass hook beside the organ.",
         "The vestry key now lives in the blue tin under the lectern.",
         "The vestry key was handed to the churchwarden, Mrs Abernethy."]
SECRET = "Brother Tobias Wrenfield repaired the bell rope with tarred hemp in March."
QUESTION = "Who repaired the bell rope with tarred hemp?"


def _texts_naming(url: str, needle: str) -> list[str]:
    """Every table whose rows hold ``needle`` in any column (as text)."""
    found = []
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        for table in tables:
            hit = conn.execute(
                f'SELECT EXISTS (SELECT 1 FROM "{table}" t WHERE t::text LIKE %s)',
                (f"%{needle}%",)).fetchone()
            if hit and hit[0]:
                found.append(table)
    return found


def _cites(answer: Answer, note_id: str) -> bool:
    return note_id in {c.note_id for c in answer.citations} or SECRET[:30] in answer.answer


def test_a_note_updated_twice_has_two_revisions_listed_and_restorable(live_parts: Any) -> None:
    for fact in FACTS:
        ingest_notes(live_parts, USER, [Note(id="key", title="Vestry key", body=fact)],
                     progress=False)
    listed = restore.revisions(live_parts.store, USER, "key")["revisions"]
    assert len(listed) == 2
    bodies = [live_parts.store.history.revision(USER, "key", r["revision"]).body
              for r in listed]
    assert bodies == [FACTS[1], FACTS[0]]  # newest first

    version = live_parts.store.notes_version(USER)
    done = restore.restore(live_parts, USER, "key", listed[1]["revision"])
    assert (done["status"], done["restored_from"]) == ("updated", "revision")
    assert done["notes_version"] > version
    assert live_parts.store.get_note(USER, "key").body == FACTS[0]
    assert {t for n, t, _ in live_parts.store.user_texts(USER)} == {FACTS[0]}  # re-embedded
    again = restore.revisions(live_parts.store, USER, "key")["revisions"]
    assert live_parts.store.history.revision(USER, "key", again[0]["revision"]).body == FACTS[2]
    with pytest.raises(NotFound):
        restore.restore(live_parts, USER, "key", 10**9)
    with pytest.raises(NotFound):  # another user's note is not theirs to list
        restore.revisions(live_parts.store, "someone.else", "key")


def test_revisions_keep_only_the_newest(live_parts: Any) -> None:
    live_parts.store.history.revisions_kept = 2
    for i in range(5):
        ingest_notes(live_parts, USER, [Note(id="n", title="N", body=f"Text number {i}.")],
                     progress=False)
    bodies = [live_parts.store.history.revision(USER, "n", r.revision).body
              for r in live_parts.store.history.revisions(USER, "n")]
    assert bodies == ["Text number 3.", "Text number 2."]


def test_a_deleted_note_is_not_answered_and_stays_restorable_until_its_time(
        live_parts: Any, database_url: str) -> None:
    history = live_parts.store.history
    now = wall_clock()
    history.clock = lambda: now
    ingest_notes(live_parts, USER, [
        Note(id="rope", title="Bell rope", body=SECRET + " He said the old rope was rotten."),
        Note(id="psalm", title="Psalm", body="Psalm 121 was read at the hill chapel.")],
        progress=False)
    pipe = Pipeline(live_parts)
    assert _cites(pipe.ask(USER, QUESTION), "rope")
    assert pipe.ask(USER, QUESTION).cache["query"] == "hit"  # cached

    assert delete_note(live_parts, USER, "rope")
    for _ in range(2):  # neither the cached answer nor a new one comes from the trash
        assert not _cites(pipe.ask(USER, QUESTION), "rope")
    assert "rope" not in {n for n, _, _ in live_parts.store.user_texts(USER)}
    assert [t.note_id for t in history.trash_list(USER)] == ["rope"]

    history.clock = lambda: now + timedelta(days=29)  # within the trash time
    assert history.purge_expired() == (0, 0)
    done = restore.restore(live_parts, USER, "rope")
    assert (done["status"], done["restored_from"]) == ("inserted", "trash")
    assert history.trash_list(USER) == []
    assert _cites(pipe.ask(USER, QUESTION), "rope")

    history.clock = lambda: now + timedelta(days=30)
    ingest_notes(live_parts, USER, [Note(id="rope", title="Bell rope", body=SECRET + " Edited.")],
                 progress=False)  # one revision, kept with the note in the trash
    assert delete_note(live_parts, USER, "rope")
    history.clock = lambda: now + timedelta(days=60, seconds=1)  # its 30 days have passed
    with pytest.raises(NotFound):
        restore.restore(live_parts, USER, "rope")  # not restorable, swept or not
    assert history.purge_expired() == (1, 1)
    assert _texts_naming(database_url, SECRET[:30]) == []
    assert "rope" not in str(restore.revisions(live_parts.store, USER, "psalm"))


def test_a_sync_that_would_delete_58_of_60_notes_asks_first(
        live_parts: Any, live_settings: Any, database_url: str, redis_url: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "vault"
    root.mkdir()
    for i in range(60):
        (root / f"n{i:02}.md").write_text(f"# Note {i}\n\nThe hymn number {i} was sung.\n")
    assert len(sync_folder(live_parts, USER, root).added) == 60
    for i in range(2, 60):  # a share mounted late: 58 of the 60 files gone
        (root / f"n{i:02}.md").unlink()
    version = live_parts.store.notes_version(USER)
    with pytest.raises(ConfirmationRequired) as refused:
        sync_folder(live_parts, USER, root)
    assert "58 of the 60 notes" in refused.value.message and "n59" in refused.value.message
    for name, value in {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                        "RAG_STATE_DIR": str(live_settings.services.state_dir),
                        "RAG_PROFILE": "ci"}.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["sync", str(root), "--user", USER, "--quiet"]) == 2
    assert "CONFIRMATION_REQUIRED" in capsys.readouterr().err
    assert live_parts.store.notes_version(USER) == version  # nothing changed
    assert len(live_parts.store.list_notes(USER)) == 60
    assert cli.main(["sync", str(root), "--user", USER, "--quiet", "--max-delete", "57"]) == 2
    assert cli.main(["ingest", str(root), "--user", USER, "--quiet", "--prune"]) == 2
    assert len(live_parts.store.list_notes(USER)) == 60

    assert cli.main(["sync", str(root), "--user", USER, "--quiet", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "removed: n59" in out and "removed=58" in out
    assert len(live_parts.store.list_notes(USER)) == 2
    assert len(live_parts.store.history.trash_list(USER)) == 58  # and restorable
    assert cli.main(["trash", "restore", "n07", "--user", USER]) == 0
    assert "n07" in {r["note_id"] for r in live_parts.store.list_notes(USER)}
    capsys.readouterr()
    assert cli.main(["trash", "list", "--user", USER, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["trash"]) == 57
    assert cli.main(["revisions", USER, "n07", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["revisions"] == []  # the same text came back
    assert cli.main(["trash", "purge", "--user", USER, "--yes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["purged"] == 57
    assert live_parts.store.history.trash_list(USER) == []


def test_an_erasure_leaves_no_revision_or_trash_row(live_parts: Any, database_url: str) -> None:
    for fact in FACTS:
        ingest_notes(live_parts, USER, [Note(id="key", title="Vestry key", body=fact)],
                     progress=False)
    ingest_notes(live_parts, USER, [Note(id="gone", title="Gone", body=SECRET)], progress=False)
    assert delete_note(live_parts, USER, "gone")
    with psycopg.connect(database_url) as conn:
        counts = conn.execute("SELECT (SELECT count(*) FROM note_revisions), "
                              "(SELECT count(*) FROM note_trash)").fetchone()
    assert counts == (2, 1)
    client = getattr(live_parts.caches.query, "client", None)
    erasure = erase_user(live_parts.store, live_parts.caches, client, USER, log_key=None,
                         actor="test", erasure_log=None)
    assert erasure.rows["note_revisions"] == 2 and erasure.rows["note_trash"] == 1
    with psycopg.connect(database_url) as conn:
        counts = conn.execute("SELECT (SELECT count(*) FROM note_revisions), "
                              "(SELECT count(*) FROM note_trash)").fetchone()
    assert counts == (0, 0)
    for needle in (SECRET[:30], FACTS[0][:30]):
        assert _texts_naming(database_url, needle) == []


def cli_with_history(live_parts: Any, live_settings: Any, database_url: str, redis_url: str,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI pointed at the test's stores, and USER's note "key" updated twice (two
    revisions) beside two more notes, "gone" and "also"."""
    for name, value in {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                        "RAG_STATE_DIR": str(live_settings.services.state_dir),
                        "RAG_PROFILE": "ci"}.items():
        monkeypatch.setenv(name, value)
    for fact in FACTS:
        ingest_notes(live_parts, USER, [Note(id="key", title="Vestry key", body=fact)],
                     progress=False)
    ingest_notes(live_parts, USER, [Note(id="gone", title="Gone", body=SECRET),
                                    Note(id="also", title="Also gone", body=FACTS[0])],
                 progress=False)


def test_the_history_commands_as_an_operator_reads_them(
        live_parts: Any, live_settings: Any, database_url: str, redis_url: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``rag-core revisions`` and ``rag-core trash`` in their text form (a line per revision or
    trashed note, a count on stderr), restoring a revision by number, and the arguments that
    cannot work refused with their code before anything changes."""
    cli_with_history(live_parts, live_settings, database_url, redis_url, monkeypatch)
    capsys.readouterr()
    assert cli.main(["revisions", USER, "key"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.endswith("\tVestry key") for line in lines)
    assert "2 revision(s) of key" in err
    oldest = int(lines[-1].split("\t")[0])
    assert cli.main(["revisions", USER, "key", "--restore", str(oldest)]) == 0
    assert f"restored key of {USER} from revision {oldest}: updated" in capsys.readouterr().out
    assert live_parts.store.get_note(USER, "key").body == FACTS[0]

    assert delete_note(live_parts, USER, "gone") and delete_note(live_parts, USER, "also")
    assert cli.main(["trash", "list", "--user", USER]) == 0
    out, err = capsys.readouterr()
    assert sorted(line.split("\t")[0] for line in out.splitlines()) == ["also", "gone"]
    assert "2 note(s) in the trash" in err
    assert cli.main(["trash", "list", "gone", "--user", USER, "--json"]) == 0
    assert [r["note_id"] for r in json.loads(capsys.readouterr().out)["trash"]] == ["gone"]
    for argv, code in ((["trash", "restore", "--user", USER], "INVALID_ARGUMENT"),
                       (["trash", "list", "--user", USER, "--yes"], "INVALID_ARGUMENT"),
                       (["trash", "list", "--user", "*"], "INVALID_USER")):
        assert cli.main(argv) == 2, argv
        assert code in capsys.readouterr().err
    assert cli.main(["trash", "restore", "gone", "--user", USER]) == 0
    assert "restored gone of" in capsys.readouterr().out
    assert cli.main(["trash", "purge", "also", "--user", USER]) == 0  # stdin is no terminal
    out, err = capsys.readouterr()
    assert f"purged 1 note(s) and 0 revision(s) of {USER}" in out and "also" in err
    assert live_parts.store.history.trash_list(USER) == []
    assert live_parts.store.get_note(USER, "gone").body == SECRET


def test_a_purge_on_a_terminal_needs_yes_and_the_json_forms_say_what_was_done(
        live_parts: Any, live_settings: Any, database_url: str, redis_url: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``rag-core trash purge`` on a terminal without ``--yes`` deletes nothing and says how
    many notes it would delete (``CONFIRMATION_REQUIRED``); with ``--yes`` it goes ahead. The
    ``--json`` forms of restoring a revision, restoring from the trash and purging name the
    note and what happened to it."""
    cli_with_history(live_parts, live_settings, database_url, redis_url, monkeypatch)
    oldest = min(r["revision"] for r in restore.revisions(live_parts.store, USER,
                                                          "key")["revisions"])
    capsys.readouterr()
    assert cli.main(["revisions", USER, "key", "--restore", str(oldest), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["note_id"], done["status"], done["restored_from"], done["revision"]) == (
        "key", "updated", "revision", oldest)
    assert delete_note(live_parts, USER, "gone") and delete_note(live_parts, USER, "also")
    assert cli.main(["trash", "restore", "gone", "--user", USER, "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["note_id"], done["status"], done["restored_from"], done["revision"]) == (
        "gone", "inserted", "trash", None)

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    assert cli.main(["trash", "purge", "--user", USER]) == 2
    err = capsys.readouterr().err
    assert "CONFIRMATION_REQUIRED" in err and "deletes 1 note(s) for good" in err
    assert [t.note_id for t in live_parts.store.history.trash_list(USER)] == ["also"]
    assert cli.main(["trash", "purge", "--user", USER, "--yes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"user": USER, "purged": 1,
                                                   "revisions_purged": 0}
    assert live_parts.store.history.trash_list(USER) == []
