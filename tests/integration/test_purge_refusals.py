"""``rag-core feedback purge`` and ``querylog purge|export`` refuse what makes no sense, against
the real PostgreSQL: a negative or absurd ``--days`` and an argument the action does not take
end with exit 2 and delete nothing; a purge says how many rows it deletes, and on a terminal
needs ``--yes``."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from rag_core.cli import main as cli
from rag_core.config import Settings
from rag_core.store.pgvector import store_for
from rag_core.store.records import LoggedQuery, Verdict

pytestmark = pytest.mark.integration


@pytest.fixture
def verdicts(database_url: str, settings: Settings,
             monkeypatch: pytest.MonkeyPatch) -> int:
    for name, value in {"DATABASE_URL": database_url, "RAG_PROFILE": "ci",
                        "RAG_STATE_DIR": str(settings.services.state_dir)}.items():
        monkeypatch.setenv(name, value)
    store = store_for(settings.with_overrides(database_url=database_url))
    store.ensure_schema()
    try:
        for i in range(3):
            store.records.add_verdict(Verdict(answer_id=uuid.uuid4().hex, user_id=f"u{i}",
                                              verdict="right", source="llm", question="Who?"))
        store.records.log_query(LoggedQuery(datetime.now(UTC), "h1", "Who?", "llm", 0.0))
    finally:
        store.close()
    return 3


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [
    ("feedback", "purge", "--days", "-5"), ("feedback", "purge", "--days", "0"),
    ("feedback", "purge", "--days", "99999999999"), ("feedback", "purge", "--days", "ten"),
    ("feedback", "export", "out", "--days", "3"), ("feedback", "purge", "somewhere"),
    ("querylog", "purge", "--days", "3"), ("querylog", "export", "x.jsonl", "--days", "-1"),
    ("querylog", "export", "x.jsonl", "--yes"),
])
def test_a_value_or_argument_that_makes_no_sense_is_refused_and_nothing_goes(
        verdicts: int, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and "error INVALID_ARGUMENT" in err and "Traceback" not in err, err
    code, out, _ = run(capsys, "feedback", "purge", "--days", "1", "--yes")
    assert json.loads(out) == {"removed": 0}  # every verdict is still there (and fresh)
    code, out, err = run(capsys, "feedback", "purge", "--yes")
    assert json.loads(out) == {"removed": verdicts} and f"{verdicts} verdicts" in err


def test_a_purge_on_a_terminal_needs_yes_and_says_how_many(
        verdicts: int, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    code, _, err = run(capsys, "feedback", "purge")
    assert code == 2 and "CONFIRMATION_REQUIRED" in err and "3 verdicts" in err
    code, _, err = run(capsys, "querylog", "purge")
    assert code == 2 and "1 query log lines" in err
    code, out, _ = run(capsys, "feedback", "purge", "--yes")
    assert code == 0 and json.loads(out) == {"removed": verdicts}
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)  # a script: no question asked
    code, out, _ = run(capsys, "querylog", "purge")
    assert code == 0 and json.loads(out) == {"removed": 1}
