"""The `rag-core` command as a user runs it, in process, against the real test PostgreSQL and
Redis: ingest, ask --json, search (one query and --queries), delete, error codes and exits."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from rag_core.cli import main as cli

pytestmark = pytest.mark.integration
AMARA = Path(__file__).resolve().parents[2] / "golden" / "notes" / "amara"


@pytest.fixture
def env(live_settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", live_settings.services.database_url)
    monkeypatch.setenv("REDIS_URL", live_settings.services.redis_url)
    monkeypatch.setenv("RAG_STATE_DIR", str(live_settings.services.state_dir))
    monkeypatch.setenv("RAG_PROFILE", "ci")
    return live_settings


def run(capsys, *argv: str) -> tuple[int, str, str]:
    frozen, pace = gc.get_freeze_count(), gc.get_threshold()
    code = cli.main(list(argv))
    # only the process's own command line freezes and paces the collector (cli.lifetime)
    assert gc.get_freeze_count() == frozen and gc.get_threshold() == pace
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_ask_search_delete(env, capsys, tmp_path):
    code, out, _ = run(capsys, "ingest", str(AMARA), "--user", "amara", "--json", "--quiet")
    first = json.loads(out)
    assert code == 0 and first["chunks_written"] > 0
    code, out, _ = run(capsys, "ingest", str(AMARA), "--user", "amara", "--json", "--quiet")
    assert code == 0 and json.loads(out)["chunks_written"] == 0

    code, out, _ = run(capsys, "ask", "Who rebuilt the wall of Jerusalem?", "--user", "amara",
                       "--json")
    answer = json.loads(out)
    assert code == 0
    assert {"answer", "citations", "no_context", "generator", "cache", "usage", "cost_usd",
            "timings_ms", "request_id"} <= set(answer)
    assert answer["generator"] == "extractive" and not answer["no_context"]
    assert {"chunk_id", "note_id", "title", "score"} <= set(answer["citations"][0])
    assert set(answer["usage"]) >= {"input_tokens", "output_tokens"}
    assert answer["cache"]["query"] == "miss"
    code, out, _ = run(capsys, "ask", "Who rebuilt the wall of Jerusalem?", "--user", "amara",
                       "--json")
    assert json.loads(out)["cache"]["query"] == "hit"

    code, out, _ = run(capsys, "search", "Nehemiah", "--user", "amara", "--top-k", "3",
                       "--json")
    rows = json.loads(out)["results"]
    assert code == 0 and 1 <= len(rows) <= 3
    assert {"chunk_id", "note_id", "title", "score"} <= set(rows[0])

    code, out, _ = run(capsys, "search", "Nehemiah rebuilt the wall", "--user", "amara",
                       "--top-k", "3", "--mode", "hybrid", "--explain")
    blocks = [out.splitlines()[i:i + 3] for i in range(0, len(out.splitlines()), 3)]
    assert code == 0 and 1 <= len(blocks) <= 3
    for head, dense, lexical in blocks:
        assert " fused 0." in head and dense.strip().startswith("dense    cosine ")
        assert lexical.strip().startswith("lexical  bm25 ") and "terms: " in lexical
    assert any("nehemiah" in block[2] for block in blocks)  # the matched lexeme is shown

    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in [
        {"id": "q1", "text": "Who rebuilt the wall?"},
        {"id": "q2", "text": "   "},  # rejected: an error line, the batch goes on
        {"id": "q3", "text": "forgiveness", "user_id": "amara"},
    ]) + "\n")
    output = tmp_path / "r.jsonl"
    code, _, _ = run(capsys, "search", "--queries", str(queries), "--user", "amara",
                     "--top-k", "2", "--output", str(output), "--quiet")
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert code == 0 and [line["id"] for line in lines] == ["q1", "q2", "q3"]
    assert len(lines[0]["results"]) == 2 and lines[2]["results"]
    assert lines[1]["results"] == [] and lines[1]["error"]["code"] == "INVALID_QUERY"

    note_id = rows[0]["note_id"]
    code, out, _ = run(capsys, "delete", note_id, "--user", "amara")
    assert code == 0 and note_id in out
    code, _, err = run(capsys, "delete", note_id, "--user", "amara")
    assert code == 2 and err.startswith("error NOT_FOUND:")


def test_user_mistakes_print_a_code_and_exit_2(env, capsys):
    code, out, err = run(capsys, "ask", "", "--user", "amara")
    assert code == 2 and out == "" and err.startswith("error INVALID_QUERY:")
    assert "Traceback" not in err
    code, _, err = run(capsys, "search", "--user", "amara")
    assert code == 2 and err.startswith("error ")
    code, _, err = run(capsys, "ingest", "/no/such/folder", "--user", "amara", "--quiet")
    assert code == 2 and err.startswith("error ")


def test_bad_settings_are_a_usage_error(env, capsys, monkeypatch):
    monkeypatch.setenv("RAG_TOP_K", "-3")
    code, _, err = run(capsys, "search", "x", "--user", "amara")
    assert code == 2 and err.startswith("error INVALID_SETTINGS: top_k")


def test_a_one_shot_command_line_paces_the_collector_and_a_server_does_not(tmp_path):
    """``main()`` on the process's own command line: a one-shot command collects the young
    generation every 10,000 objects and freezes what it built at the end; ``serve`` and the
    other servers keep the default pace."""
    import subprocess
    import sys

    from served_app import clean_env

    code = """
import gc, json, sys
from rag_core.cli import lifetime
from rag_core.cli.main import main
default = gc.get_threshold()[0]
lifetime.begin("serve")
served = gc.get_threshold()[0]
sys.argv = ["rag-core", "token", "--user", "amara"]
code = main()
print(json.dumps([code, default, served, gc.get_threshold()[0], gc.get_freeze_count() > 0]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=clean_env(RAG_PROFILE="ci", RAG_STATE_DIR=str(tmp_path / "state")),
                         stdin=subprocess.DEVNULL, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == [0, 700, 700, 10_000, True]
