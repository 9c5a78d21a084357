"""``rag-core ask --server`` before any server answers: a URL that is not http(s), a token of
someone else and a server nobody runs each end with a code, a sentence and their exit status,
without loading the pipeline. (A real ``rag-core serve``: tests/app/test_ask_server.py.)"""

from __future__ import annotations

import os
import subprocess
import sys

import jwt
import pytest

from rag_core.cli import main as cli
from rag_core.procs import free_port


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_PROFILE", "ci")
    monkeypatch.setenv("RAG_JWT_SECRET", "unit-test-secret-of-the-remote-ask-0123456789")
    monkeypatch.delenv("RAG_SERVER_URL", raising=False)
    monkeypatch.delenv("RAG_SERVER_TOKEN", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's own mistakes
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_server_nobody_runs_is_a_dependency_error(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "ask", "Who?", "--user", "amara", "--server", url)
    assert code == 3 and out == ""
    assert err.startswith(f"error SERVER_UNREACHABLE: No rag-core server answered at {url}")
    assert "--local" in err
    monkeypatch.setenv("RAG_SERVER_URL", url)  # the variable does the same
    code, _, err = run(capsys, "ask", "Who?", "--user", "amara")
    assert code == 3 and err.startswith("error SERVER_UNREACHABLE:")


def test_asking_a_server_loads_no_pipeline_and_no_model() -> None:
    """In a fresh interpreter: the remote path imports neither the pipeline nor spaCy nor an
    embedding runtime (what makes it quick)."""
    probe = ("import sys\nfrom rag_core.cli.main import main\ncode = main(sys.argv[1:])\n"
             "heavy = ('rag_core.pipeline', 'spacy', 'torch', 'openvino', 'onnxruntime')\n"
             "print(sorted(m for m in heavy if m in sys.modules), code)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_PROFILE="ci", RAG_JWT_SECRET="unit-test-secret-of-the-remote-ask-0123456789")
    out = subprocess.run([sys.executable, "-c", probe, "ask", "Who?", "--user", "amara",
                          "--server", f"http://127.0.0.1:{free_port()}"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[] 3", out.stderr


def test_a_url_that_is_not_http_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ask", "Who?", "--user", "amara", "--server", "localhost:8000")
    assert code == 2 and err.startswith("error INVALID_ARGUMENT: --server / RAG_SERVER_URL")


def test_server_and_local_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ask", "Who?", "--user", "amara", "--server", "http://x",
                       "--local")
    assert code == 2 and "not allowed with argument" in err


def test_a_token_of_another_user_is_refused_before_sending(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the check comes first
    monkeypatch.setenv("RAG_SERVER_TOKEN", jwt.encode({"sub": "ben"}, "k" * 32))
    code, _, err = run(capsys, "ask", "Who?", "--user", "amara", "--server", url)
    assert code == 2 and err.startswith("error INVALID_ARGUMENT: RAG_SERVER_TOKEN is a token "
                                        "of 'ben', not of --user 'amara'.")
    monkeypatch.setenv("RAG_SERVER_TOKEN", "not-a-jwt")
    code, _, err = run(capsys, "ask", "Who?", "--user", "amara", "--server", url)
    assert code == 2 and err.startswith("error INVALID_ARGUMENT: RAG_SERVER_TOKEN is not a JWT")
