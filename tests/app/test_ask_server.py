"""``rag-core ask --server URL``: the question goes to a running ``rag-core serve`` (a real
uvicorn process on this module's PostgreSQL and Redis) and the answer prints as the local path
prints it; the server's errors keep their code and exit status."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from served_app import ServedApp, clean_env, serve, wait_for

from rag_core.api.auth import issue_token
from rag_core.cli import main as cli
from rag_core.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUESTION = "Who rebuilt the wall of Jerusalem?"
LAST_LINE = re.compile(r"^cache: (\w+=\w+ ?)+ \| cost \$\d+\.\d{6} \| \d+ ms \| request \w+$")


@pytest.fixture(scope="module")
def served(app_parts: Any, app_settings: Settings, short_tmp: Path) -> Iterator[ServedApp]:
    work = short_tmp / f"ask{uuid.uuid4().hex[:6]}"
    env = clean_env(DATABASE_URL=str(app_settings.services.database_url),
                    REDIS_URL=str(app_settings.services.redis_url), RAG_PROFILE="ci",
                    RAG_STATE_DIR=str(app_settings.services.state_dir),
                    RAG_JWT_SECRET=app_settings.auth.jwt_secret.get_secret_value())
    with serve(work, env) as app:
        yield app


@pytest.fixture
def env(app_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in (("DATABASE_URL", app_settings.services.database_url),
                        ("REDIS_URL", app_settings.services.redis_url), ("RAG_PROFILE", "ci"),
                        ("RAG_STATE_DIR", app_settings.services.state_dir),
                        ("RAG_JWT_SECRET", app_settings.auth.jwt_secret.get_secret_value())):
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("RAG_SERVER_URL", raising=False)
    monkeypatch.delenv("RAG_SERVER_TOKEN", raising=False)
    return app_settings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_through_the_server_prints_what_the_local_path_prints(
        served: ServedApp, env: Settings, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, local, _ = run(capsys, "ask", QUESTION, "--user", "amara", "--local")
    assert code == 0
    code, remote, err = run(capsys, "ask", QUESTION, "--user", "amara", "--server", served.url)
    assert code == 0, err
    *local_body, local_last = local.rstrip("\n").splitlines()
    *remote_body, remote_last = remote.rstrip("\n").splitlines()
    assert remote_body == local_body and "[1]" in remote
    assert LAST_LINE.match(local_last) and LAST_LINE.match(remote_last)
    assert "reason=" not in remote_last  # the API's extra cache field is not a layer

    # RAG_SERVER_URL does what --server does, and --local overrides it
    monkeypatch.setenv("RAG_SERVER_URL", served.url + "/")
    code, out, _ = run(capsys, "ask", "Who is my neighbor in the parable?", "--user", "amara",
                       "--json", "--top-k", "1")
    answer = json.loads(out)
    assert code == 0 and answer["cache"]["reason"] and len(answer["retrieved"]) == 1
    # the server writes a request's log line after its response: wait for both remote asks'
    served_before = wait_for("the two remote asks in the server's log", lambda: (
        n if (n := served.log().count('"route": "/v1/query"')) >= 2 else None))
    code, out, _ = run(capsys, "ask", QUESTION, "--user", "amara", "--local", "--json")
    assert code == 0 and "decisions" in json.loads(out)  # Answer.to_dict: the local object
    assert served.log().count('"route": "/v1/query"') == served_before


def test_the_servers_errors_keep_their_code_and_exit(
        served: ServedApp, env: Settings, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(capsys, "ask", "   ", "--user", "amara", "--server", served.url)
    assert code == 2 and out == "" and err.startswith("error INVALID_QUERY:")

    monkeypatch.setenv("RAG_JWT_SECRET", "another-secret-that-the-server-does-not-know-0123")
    code, _, err = run(capsys, "ask", QUESTION, "--user", "amara", "--server", served.url)
    assert code == 2 and err.startswith("error UNAUTHORIZED:")

    # a token handed over is used as it is (here: one of the server's secret)
    monkeypatch.setenv("RAG_SERVER_TOKEN", issue_token(env, "amara", ttl_s=60))
    code, out, err = run(capsys, "ask", QUESTION, "--user", "amara", "--server", served.url)
    assert code == 0 and "[1]" in out, err


def test_filters_on_the_command_line_locally_and_through_the_server(
        served: ServedApp, env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    notes = Path(__file__).resolve().parents[2] / "golden" / "notes" / "amara"
    okafor = {p.stem for p in notes.glob("*.md")
              if 'speaker: "Pastor Miriam Okafor"' in p.read_text(encoding="utf-8")}
    question = "What story did Pastor Miriam Okafor tell about her grandmother?"
    speaker = ("--speaker", "pastor miriam okafor", "--date-from", "2000", "--top-k", "10")
    for where in (("--server", served.url), ("--local",)):
        code, out, err = run(capsys, "ask", question, "--user", "amara", "--json", *where,
                             *speaker)
        got = {r["note_id"] for r in json.loads(out)["retrieved"]}
        assert code == 0 and got and got <= okafor, (where, err)
        code, out, err = run(capsys, "ask", question, "--user", "amara", *where,
                             "--series", "No Such Series", "--tag", "faith", "--tag", "hope")
        assert code == 0 and "(no context: filter_no_match: " in out, err
        assert "series 'No Such Series', tag 'faith' or 'hope'" in out
        code, out, err = run(capsys, "ask", question, "--user", "amara", *where,
                             "--date-to", "2019-Se-01")
        assert code == 2 and out == "" and err.startswith("error INVALID_FILTER:")
    code, out, err = run(capsys, "search", question, "--user", "amara", "--json", *speaker)
    got = {r["note_id"] for r in json.loads(out)["results"]}
    assert code == 0 and got and got <= okafor, err
