"""The generator's own "not in your notes": an answer that is the prompt's decline marker is
marked no_context, billed as the call it was and says who declined (in-process store and
caches, a scripted generator at the edge; the mock's decline without its server)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from rag_core.answer import Answer
from rag_core.devservers.mock_app import mock_answer
from rag_core.devservers.obey import obey_answer
from rag_core.ingest.ingestion import ingest_notes
from rag_core.llm.base import Generation, Prompt
from rag_core.llm.extractive import ExtractiveGenerator
from rag_core.llm.prompt import DECLINE, SYSTEM_PROMPT, build_prompt, is_decline
from rag_core.llm.resilience import ResilientGenerator
from rag_core.parts import Parts
from rag_core.pipeline import Pipeline
from rag_core.types import Chunk, Note, TokenUsage

NOTE = Note(id="n1", title="Faith That Walks", speaker="Pastor Okafor", date="2024-03-10",
            body="Abraham was seventy-five years old when he left Haran. God told him to go "
                 "to a land he would be shown later.")
QUESTION = "How old was Abraham when he left Haran?"


class Replying:
    """A generator at the edge that replies with one text, whole or in pieces."""

    name = "replying"

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def generate(self, prompt: Prompt) -> Generation:
        self.calls += 1
        return Generation(self.text, TokenUsage(120, 9), self.name)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        self.calls += 1
        yield from (w + " " for w in self.text.split())


@pytest.fixture
def parts(memory_parts: Parts) -> Parts:
    ingest_notes(memory_parts, "amara", [NOTE], progress=False)
    return memory_parts


def pipeline(parts: Parts, text: str) -> tuple[Pipeline, Replying]:
    inner = Replying(text)
    return Pipeline(replace(parts, generator=ResilientGenerator(inner, parts.settings.model_calls,
                                                                None))), inner


@pytest.mark.parametrize("text", [DECLINE, DECLINE.upper(), f' "{DECLINE}" ',
                                  DECLINE.rstrip(".") + " [1]"])
def test_the_marker_is_recognised_however_it_is_spaced_or_cased(text: str) -> None:
    assert is_decline(text)


def test_an_answer_that_only_mentions_the_marker_is_an_answer() -> None:
    assert not is_decline(f"Abraham was 75 [1]. {DECLINE}")
    assert DECLINE in SYSTEM_PROMPT  # the prompt asks for exactly this sentence


@pytest.mark.parametrize("streaming", [False, True])
def test_a_decline_is_no_context_billed_and_says_who_declined(parts: Parts,
                                                              streaming: bool) -> None:
    pipe, inner = pipeline(parts, DECLINE)
    if streaming:
        last = [e for e in pipe.stream("amara", QUESTION) if e["type"] == "answer"][0]
        answer = Answer.from_dict({k: v for k, v in last.items() if k != "type"})
    else:
        answer = pipe.ask("amara", QUESTION)
    assert inner.calls == 1 and answer.no_context
    assert answer.decisions.relevance.answer is True  # the pre-LLM decision let it by
    assert answer.decisions.declined.by == answer.generator != "none"
    assert answer.usage.input_tokens > 0 and answer.usage.output_tokens > 0  # paid for


def test_an_answer_is_not_a_decline(parts: Parts) -> None:
    pipe, _ = pipeline(parts, "Abraham was seventy-five [1].")
    answer = pipe.ask("amara", QUESTION)
    assert not answer.no_context and answer.decisions.declined is None


def test_the_extractive_generator_declines_when_it_has_no_sentence() -> None:
    prompt = build_prompt(QUESTION, [Chunk("c", "n", "u", 0, "Short.", {})], 100)
    assert is_decline(ExtractiveGenerator().generate(prompt).text)


def test_the_mock_declines_when_no_note_shares_a_word_and_obey_passes_it_on() -> None:
    chunks = [Chunk("c", "n", "u", 0, NOTE.body, {})]
    unrelated = build_prompt("What is the capital of Peru?", chunks, 100).messages
    assert mock_answer(unrelated) == DECLINE
    assert obey_answer(unrelated, mock_answer(unrelated)) == DECLINE
    related = build_prompt(QUESTION, chunks, 100).messages
    assert not is_decline(mock_answer(related))
