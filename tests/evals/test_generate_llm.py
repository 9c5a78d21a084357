"""``python -m evals generate --writer llm`` against the mock LLM over real HTTP (the
OpenAI-compatible protocol, through the service's own client): the model's items that pass the
checks are kept (answerable ones are answered by their note, unanswerable ones name a fact no
note holds), the others are dropped and counted, and no endpoint is a usage error."""

import json

import pytest

from evals import cli
from evals.datasets import load_dataset
from evals.datasets.example import EXAMPLE_DIR
from evals.generate import GenerateError
from evals.generate.facts import Library, squash
from evals.generate.llm_writer import parse_reply
from evals.generate.write import generate
from rag_core.devservers.mock_server import MockLLM, mock_stats
from rag_core.ingest.readers import load_notes

pytestmark = pytest.mark.integration
NOTES = EXAMPLE_DIR / "notes"


@pytest.fixture(scope="module")
def mock_url():
    with MockLLM(model="mock-writer") as (url, _app):
        yield url


def _llm(settings, url):
    return settings.with_overrides(llm="hf", llm_base_url=f"{url}/v1", llm_model="mock-writer",
                                   llm_max_retries=0, llm_read_timeout_s=10.0)


def _qa(folder):
    return [json.loads(line) for line in (folder / "qa.jsonl").read_text().splitlines()]


def test_the_models_items_are_checked_kept_and_dropped(settings, mock_url, tmp_path):
    before = mock_stats(mock_url)["completed"]
    made = generate(NOTES, tmp_path / "llm", seed=3, writer="llm",
                    llm_settings=_llm(settings, mock_url))
    assert mock_stats(mock_url)["completed"] - before == 12  # one request per note
    qa = _qa(tmp_path / "llm")
    assert made.model == "mock-writer" and made.questions == len(qa)
    assert all(i["made_by"]["writer"] == "llm" and i["made_by"]["model"] == "mock-writer"
               for i in qa)
    # the mock rewords one answer per note and names the note's own speaker as "absent"
    assert made.dropped["answer not in its note"] >= 10
    assert made.dropped["names no absent fact"] >= 10
    libraries = {u: Library(u, load_notes(NOTES / u)) for u in ("idris", "rosa")}
    answerable = [i for i in qa if not i["expect_no_context"]]
    unanswerable = [i for i in qa if i["expect_no_context"]]
    assert len(answerable) >= 10 and unanswerable
    for item in answerable:  # the reference note holds the answer
        (note,) = item["reference_note_ids"]
        assert squash(item["reference_answer"]) in squash(libraries[item["user_id"]].texts[note])
        assert item["made_by"]["note"] == note and item["scenario"] == "factual"
    for item in unanswerable:  # no note of the asker holds the fact the question names
        absent = item["made_by"]["absent"]
        assert squash(absent) in squash(item["question"])
        assert not any(squash(absent) in squash(t)
                       for t in libraries[item["user_id"]].texts.values())
    assert {i["split"] for i in qa} == {"dev", "test"}
    assert len(load_dataset(tmp_path / "llm").qa) == len(qa)  # the harness reads it

    again = generate(NOTES, tmp_path / "again", seed=3, writer="llm",
                     llm_settings=_llm(settings, mock_url))
    assert (again.folder / "qa.jsonl").read_text() == (tmp_path / "llm" / "qa.jsonl").read_text()


def test_the_command_with_and_without_an_endpoint(mock_url, tmp_path, monkeypatch, capsys):
    for name in ("RAG_LLM", "RAG_LLM_BASE_URL", "HF_TOKEN", "RAG_HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["generate", "--notes", str(NOTES), "--out", str(tmp_path / "none"),
                     "--writer", "llm"]) == 2
    assert "RAG_LLM=hf" in capsys.readouterr().err
    monkeypatch.setenv("RAG_LLM", "hf")
    monkeypatch.setenv("RAG_LLM_BASE_URL", f"{mock_url}/v1")
    monkeypatch.setenv("RAG_LLM_MODEL", "mock-writer")
    assert cli.main(["generate", "--notes", str(NOTES), "--users", "rosa", "--out",
                     str(tmp_path / "rosa"), "--writer", "llm"]) == 0
    printed = capsys.readouterr().out
    assert "by mock-writer" in printed and "dropped by the checks: " in printed


def test_a_refused_request_is_a_usage_error(settings, tmp_path):
    # the writer sends no token: 401
    with MockLLM(api_key="right") as (url, _app), pytest.raises(GenerateError, match="refused"):
        generate(NOTES, tmp_path / "x", writer="llm", llm_settings=_llm(settings, url))


def test_a_reply_is_read_from_prose_or_a_fenced_block():
    assert parse_reply('Sure!\n```json\n{"answerable": []}\n```') == {"answerable": []}
    assert parse_reply("no JSON here") is None and parse_reply("[1, 2]") is None
