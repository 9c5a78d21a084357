"""The model rewrite of a follow-up, with the project's mock model over real HTTP and the real
PostgreSQL and Redis: a model call, billed and counted in the answer's usage; a failed call
falls back to the rewriter of the parts, never an error; the history it reads is cut from the
oldest turn to its token budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rag_core.answers.conversation import ask_in_conversation, begin
from rag_core.answers.model_rewrite import within_budget
from rag_core.conversations.turns import CitedNote, Turn
from rag_core.costs import reporting
from rag_core.costs.ledger import today
from rag_core.devservers.mock_server import MockLLM
from rag_core.ingest.ingestion import ingest_notes
from rag_core.parts import build_parts
from rag_core.pipeline import Pipeline
from tests.two_speakers import NOTES


def test_the_history_is_cut_from_the_oldest_turn_to_the_budget() -> None:
    turns = [Turn(f"q{n}", f"standalone question {n}", "answer " * 10,
                  (CitedNote(f"n{n}", f"Title {n}", {"speaker": "Ann Lee"}),), float(n))
             for n in range(1, 5)]

    def count(text: str) -> int:
        return len(text.split())

    each = count(within_budget(turns[-1:], count, 10_000)[0])
    kept = within_budget(turns, count, 2 * each + 1)
    assert len(kept) == 2 and "standalone question 3" in kept[0]
    assert "standalone question 4" in kept[1]
    assert within_budget(turns, count, each - 1) == []


@pytest.fixture
def mock_url() -> Iterator[str]:
    with MockLLM() as (url, _app):
        yield url


@pytest.fixture
def model_parts(live_settings: Any, mock_url: str) -> Iterator[Any]:
    settings = live_settings.with_overrides(llm="hf", llm_base_url=f"{mock_url}/v1",
                                            llm_max_retries=0, llm_read_timeout_s=5.0)
    parts = build_parts(settings)
    ingest_notes(parts, "amara", NOTES)
    yield parts
    parts.close()


def spent(parts: Any) -> float:
    return float(reporting.spend(parts.ledger, "amara", today()))


def test_the_model_rewrites_a_follow_up_billed_and_in_the_usage(model_parts: Any) -> None:
    pipeline = Pipeline(model_parts)
    first = ask_in_conversation(pipeline, "amara", "Who preached on Micah 6:8?", "new")
    assert first.decisions.standalone is not None
    assert first.decisions.standalone.made_by == "unchanged"
    cid = first.conversation_id
    assert cid is not None and first.conversation_saved

    before = spent(model_parts)
    follow = begin(model_parts, "amara", "What else did she preach on?", cid)
    assert follow.standalone.question == "What else did Ann Lee preach on?"
    assert follow.standalone.made_by == "model"
    assert follow.usage.input_tokens > 0 and follow.usage.output_tokens > 0
    assert follow.cost_usd > 0 and spent(model_parts) == pytest.approx(before + follow.cost_usd)

    answer = ask_in_conversation(pipeline, "amara", "What else did she preach on?", cid)
    assert answer.standalone_question == "What else did Ann Lee preach on?"
    assert answer.usage.input_tokens >= follow.usage.input_tokens
    assert {c.note_id for c in answer.citations} <= {"ann-micah", "ann-amos"}


def test_a_failed_rewrite_falls_back_never_fails(model_parts: Any, mock_url: str) -> None:
    pipeline = Pipeline(model_parts)
    first = ask_in_conversation(pipeline, "amara", "Who preached on Micah 6:8?", "new")
    assert first.conversation_id is not None
    httpx.post(f"{mock_url}/admin/config", json={"fail_next": 1, "error_status": 500})
    follow = begin(model_parts, "amara", "What else did she preach on?",
                   first.conversation_id)
    assert follow.standalone.made_by == "rules"  # the parts' rewriter answers instead
    assert " she " not in f" {follow.standalone.question} "
    assert "model failed" in follow.standalone.reason
