"""``rag-core feedback export`` and ``rag-core querylog export|purge`` against a real
PostgreSQL: what the service kept, written where the harness reads it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rag_core.cli.main import main
from rag_core.config import Settings
from rag_core.parts import build_store
from rag_core.store.records import LoggedQuery, Verdict

pytestmark = [pytest.mark.integration]


def test_exports_and_purge(database_url: str, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    from evals.datasets import golden, traffic

    store = build_store(Settings(profile="ci", state_dir=tmp_path, database_url=database_url))
    try:
        store.records.add_verdict(Verdict(
            answer_id="a" * 32 + ".query", user_id="kim", verdict="wrong", source="semantic",
            question="How old was Abraham when Isaac was born?", answer="Seventy-five.",
            matched_question="How old was Abraham when he left Haran?"))
        store.records.add_verdict(Verdict(answer_id="b" * 32, user_id="kim", verdict="right",
                                          source="none", question=""))  # nothing to label
        store.records.log_query(LoggedQuery(datetime.now(UTC), "hash1", "Who is Doris?",
                                            "llm", 0.0002))
    finally:
        store.close()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RAG_PROFILE", "ci")
    monkeypatch.setenv("RAG_STATE_DIR", str(tmp_path))

    assert main(["feedback", "export", str(tmp_path / "fb")]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == 1
    qa = golden.load_qa(tmp_path / "fb")
    assert qa["question"].tolist() == ["How old was Abraham when Isaac was born?"]
    assert qa.iloc[0]["reference_answer"] == ""  # wrong, and no correction given
    pairs = golden.load_semantic_pairs(tmp_path / "fb")
    assert [(p["a"], p["label"]) for p in pairs] == [
        ("How old was Abraham when he left Haran?", "near_miss")]

    out = tmp_path / "log.jsonl"
    assert main(["querylog", "export", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["lines"] == 1
    events = traffic.read_log(out)
    assert [(e.user, e.text) for e in events] == [("hash1", "Who is Doris?")]
    assert main(["querylog", "purge"]) == 0
    assert json.loads(capsys.readouterr().out) == {"removed": 1}
    assert main(["querylog", "export", str(out)]) == 0
    assert out.read_text() == ""
