"""Caller mistakes on the ``rag-core`` command line end with a code, a sentence and exit 2,
before anything is read that could hang or grow without end (a FIFO, ``/dev/zero``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag_core.cli import main as cli
from rag_core.config import Settings

pytestmark = pytest.mark.integration
MAX_NOTE_FILE_BYTES = 16 * 1024 * 1024  # the stated limit (rag_core.ingest.notes)


@pytest.fixture
def cli_env(database_url: str, redis_server: object, settings: Settings,
            monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url,  # type: ignore[attr-defined]
           "RAG_STATE_DIR": str(settings.services.state_dir), "RAG_PROFILE": "ci"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_refuses_devices_fifos_and_huge_files_before_reading(
        cli_env: dict[str, str], tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.md"
    with open(huge, "wb") as f:  # sparse: no disk used
        f.truncate(MAX_NOTE_FILE_BYTES + 1)
    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "waiting.md")
    env = {**os.environ, **cli_env, "HF_HUB_OFFLINE": "1"}
    # a single file is the caller's mistake (exit 2); in a folder, one failed file (exit 1)
    for path, says, code, status in [
            (fifo, "not a regular file", "INVALID_NOTE", 2),
            (folder, "not a regular file", "INVALID_NOTE", 1),
            (huge, "a note file may have at most", "FILE_TOO_LARGE", 2),
            (Path("/dev/zero"), "not a regular file", "INVALID_NOTE", 2)]:
        done = subprocess.run([sys.executable, "-m", "rag_core", "ingest", str(path), "--user",
                               "amara", "--quiet"], env=env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == status, (path, done.stderr[-2000:])
        errors = [x for x in done.stderr.splitlines() if x.startswith("error ")]
        assert errors and errors[-1].startswith(f"error {code}: ")
        assert says in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("argv,code", [
    (["delete", "a\udcffb", "--user", "amara"], "INVALID_NOTE"),  # argv bytes not UTF-8
    (["delete", "a/b", "--user", "amara"], "INVALID_NOTE"),
    (["delete", "note-1", "--user", "a b"], "INVALID_USER"),
    (["search", "--queries", "/no/such/queries.jsonl", "--user", "amara"], "INVALID_ARGUMENT"),
    (["cache", "clear", "--user", "*"], "INVALID_USER"),
])
def test_cli_caller_mistakes_are_coded_with_exit_2(cli_env: dict[str, str],
                                                   capsys: pytest.CaptureFixture[str],
                                                   argv: list[str], code: str) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2, err
    assert err.strip().splitlines()[-1].startswith(f"error {code}: ")
    assert "Traceback" not in err
