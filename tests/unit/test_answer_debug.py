"""What an answer records of its own context (``Answer.debug``) for the harness, and that the
record never leaves the process (not in ``to_dict``, so not in ``ask --json``, the API or a
cached answer). Fast lane: in-process store and caches, the hash embedder, a scripted generator
at the edge."""

from __future__ import annotations

from dataclasses import replace

import pytest

from evals.quality import answer_figures
from rag_core.answer import Answer
from rag_core.llm.resilience import ResilientGenerator
from rag_core.parts import Parts
from rag_core.pipeline import Pipeline
from rag_core.types import Note
from tests.unit.test_pipeline_logic import NOTES, QUESTION, Scripted

LONG = Note(id="n3", title="A Long Walk", body=" ".join(["Haran was far from Canaan."] * 60))


@pytest.fixture
def parts(memory_parts: Parts) -> Parts:
    from rag_core.ingest.ingestion import ingest_notes

    ingest_notes(memory_parts, "amara", [*NOTES, LONG], progress=False)
    return memory_parts


def _pipe(parts: Parts, scripted: Scripted, **overrides: object) -> Pipeline:
    settings = parts.settings.with_overrides(**overrides) if overrides else parts.settings
    parts = replace(parts, settings=settings)
    guarded = ResilientGenerator(scripted, settings.model_calls, None)
    return Pipeline(replace(parts, generator=guarded))


def test_a_generated_answer_records_the_context_it_sent(parts: Parts) -> None:
    scripted = Scripted("Seventy-five [1].")
    answer = _pipe(parts, scripted).ask("amara", QUESTION)
    record = answer.debug
    assert record is not None and record.context_sent
    assert list(record.retrieved_texts) == [r.chunk_id for r in answer.retrieved]
    assert set(record.packed_chunk_ids) <= set(record.retrieved_texts)
    assert list(record.packed_texts) == [record.retrieved_texts[c]
                                         for c in record.packed_chunk_ids]
    # the prompt the model got carries exactly the packed chunks, in that order
    sent = scripted.prompts[0]
    assert [c.chunk_id for c in sent.chunks] == list(record.packed_chunk_ids)
    assert 0 < record.context_tokens <= parts.settings.tokens.context_token_budget


def test_the_budget_changes_what_the_record_says_was_sent(parts: Parts) -> None:
    wide = _pipe(parts, Scripted("Seventy-five [1].")).ask("amara", QUESTION).debug
    parts.caches.clear(None)  # the parts' caches were built under the wide budget
    narrow = _pipe(parts, Scripted("Seventy-five [1]."), context_token_budget=60).ask(
        "amara", QUESTION).debug
    assert wide is not None and narrow is not None
    assert narrow.context_tokens <= 60 < wide.context_tokens
    assert len(narrow.packed_chunk_ids) <= len(wide.packed_chunk_ids)


def test_an_answer_without_the_model_records_no_context_sent(parts: Parts) -> None:
    scripted = Scripted("never called")
    answer = _pipe(parts, scripted, similarity_threshold=0.99).ask(
        "amara", "What is the capital of Peru?")
    assert answer.no_context and scripted.calls == 0
    assert answer.debug is not None and not answer.debug.context_sent
    assert answer.debug.packed_chunk_ids == () and answer.debug.context_tokens == 0
    assert answer_figures.packed(answer) == ([], 0, False)


def test_a_cached_answer_carries_no_record(parts: Parts) -> None:
    pipe = _pipe(parts, Scripted("Seventy-five [1]."))
    assert pipe.ask("amara", QUESTION).debug is not None
    again = pipe.ask("amara", QUESTION)
    assert again.cache["query"] == "hit" and again.debug is None
    with pytest.raises(ValueError, match="came from a cache"):
        answer_figures.packed(again)


def test_the_record_stays_out_of_the_answers_dict(parts: Parts) -> None:
    answer = _pipe(parts, Scripted("Seventy-five [1].")).ask("amara", QUESTION)
    data = answer.to_dict()
    assert "debug" not in data
    assert not any(text in str(data) for text in answer.debug.packed_texts)  # type: ignore[union-attr]
    assert Answer.from_dict(data).debug is None
