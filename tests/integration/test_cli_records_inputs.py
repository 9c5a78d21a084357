"""Caller mistakes at the ``rag-core`` command line for notes and kept records, against the real
PostgreSQL: a note field over its limit or a date that is not a date is reported on its line with
its code and file, the rest of the folder is stored, and ``ingest`` exits 1; an export to a
folder that does not exist is a coded error, not a traceback; ``feedback purge`` empties the
verdicts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from rag_core.cli import main as cli
from rag_core.config import Settings
from rag_core.store.pgvector import PgVectorStore, store_for
from rag_core.store.records import Verdict

pytestmark = pytest.mark.integration
GOOD = "---\nid: {id}\ntitle: Note {id}\ndate: 2024-03-10\n---\nFaith is the assurance of " \
       "things hoped for.\n"


@pytest.fixture
def cli_env(database_url: str, redis_server: object, settings: Settings,
            monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url,  # type: ignore[attr-defined]
           "RAG_STATE_DIR": str(settings.services.state_dir), "RAG_PROFILE": "ci"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def open_store(settings: Settings, env: dict[str, str]) -> PgVectorStore:
    store = store_for(settings.with_overrides(database_url=env["DATABASE_URL"]))
    store.ensure_schema()
    return store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("line,field", [
    ("speaker: " + "s" * 121, "speaker"),
    ("tags: [" + ", ".join(f"t{i}" for i in range(21)) + "]", "tags"),
    ("date: 2019-Se-01", "date"), ("date: 2019-02-30", "date"),
])
def test_ingest_reports_a_bad_field_stores_the_rest_and_exits_1(
        cli_env: dict[str, str], settings: Settings, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], line: str, field: str) -> None:
    for i in range(3):
        (tmp_path / f"a{i}.md").write_text(GOOD.format(id=f"a{i}"), encoding="utf-8")
    key = line.split(":", 1)[0]
    bad = "\n".join(x for x in GOOD.format(id="m").splitlines()
                    if not x.startswith(f"{key}:"))
    bad = bad.replace("---\nid: m", f"---\nid: m\n{line}", 1)
    (tmp_path / "m.md").write_text(bad + "\n", encoding="utf-8")
    user = f"cli-{uuid.uuid4().hex[:8]}"
    code, out, err = run(capsys, "ingest", str(tmp_path), "--user", user, "--quiet")
    assert code == 1, err
    [line] = [x for x in err.splitlines() if x.startswith("error ")]
    assert line.startswith("error INVALID_NOTE: ") and f"'{field}'" in line and "m.md" in line
    assert "inserted=3" in out and "failed=1" in out
    store = open_store(settings, cli_env)
    try:
        assert [n["note_id"] for n in store.list_notes(user)] == ["a0", "a1", "a2"]
    finally:
        store.close()


def test_exports_to_a_missing_folder_are_coded_errors(
        cli_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    code, _, err = run(capsys, "querylog", "export", str(missing / "log.jsonl"))
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error INVALID_ARGUMENT: ")
    assert str(missing) in err
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    code, _, err = run(capsys, "feedback", "export", str(a_file))
    assert code == 2 and err.strip().splitlines()[-1].startswith("error INVALID_ARGUMENT: ")
    code, _, err = run(capsys, "querylog", "export", str(tmp_path))
    assert code == 2 and "is a folder" in err


def test_feedback_purge_removes_the_verdicts(
        cli_env: dict[str, str], settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    store = open_store(settings, cli_env)
    try:
        store.records.add_verdict(Verdict(answer_id=uuid.uuid4().hex, user_id="purged",
                                          verdict="wrong", source="llm", question="Who?",
                                          answer="Nobody.", comment="a private correction"))
        code, out, err = run(capsys, "feedback", "purge", "--days", "1")
        assert code == 0 and json.loads(out)["removed"] == 0, err  # a fresh verdict stays
        code, out, err = run(capsys, "feedback", "purge")
        assert code == 0 and json.loads(out)["removed"] >= 1, err
        assert [v for v in store.records.verdicts() if v.user_id == "purged"] == []
    finally:
        store.close()
