"""The Generator contract, run by the extractive generator, the hf generator against the mock
LLM over real HTTP, and the resilient wrapper around each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag_core.config import Settings
from rag_core.devservers.mock_server import MockLLM
from rag_core.llm.base import Generator
from rag_core.llm.extractive import ExtractiveGenerator
from rag_core.llm.prompt import build_prompt
from rag_core.llm.resilience import ResilientGenerator
from rag_core.types import Chunk


def make_chunk(n: int, text: str) -> Chunk:
    return Chunk(chunk_id=f"note-{n}:0:abc", note_id=f"note-{n}", user_id="amara", ordinal=0,
                 text=text, metadata={"title": f"Sermon {n}", "speaker": "Pastor Okafor"},
                 score=0.9 - n / 10)


CHUNKS = [make_chunk(1, "Abraham was seventy-five years old when he left Haran. God told him "
                        "to go without naming the land."),
          make_chunk(2, "Mama Ngozi planted twelve mango seedlings at seventy-nine.")]
PROMPT = build_prompt("How old was Abraham when he left Haran?", CHUNKS, 200)


class GeneratorContract:
    def test_generate_answers_with_usage(self, generator: Generator) -> None:
        out = generator.generate(PROMPT)
        assert isinstance(out.text, str) and out.text.strip()
        assert out.usage.output_tokens > 0 and out.usage.input_tokens >= 0
        assert out.usage.output_tokens <= PROMPT.max_tokens
        assert isinstance(generator.name, str) and generator.name

    def test_stream_gives_the_same_text_in_pieces(self, generator: Generator) -> None:
        whole = generator.generate(PROMPT).text
        pieces = list(generator.stream(PROMPT))
        assert pieces and all(isinstance(p, str) for p in pieces)
        assert "".join(pieces).split() == whole.split()

    def test_cites_only_numbers_it_was_given(self, generator: Generator) -> None:
        import re

        numbers = {int(n) for n in re.findall(r"\[(\d+)\]", generator.generate(PROMPT).text)}
        assert numbers <= {1, 2}


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    with MockLLM() as (url, _):
        yield url


def _hf(settings: Settings, url: str) -> Generator:
    from rag_core.llm.hf import hf_generator

    return hf_generator(settings.with_overrides(llm="hf", llm_base_url=f"{url}/v1",
                                               llm_max_retries=0))


class TestExtractive(GeneratorContract):
    @pytest.fixture
    def generator(self) -> Generator:
        return ExtractiveGenerator()


class TestHFAgainstTheMock(GeneratorContract):
    @pytest.fixture
    def generator(self, settings: Settings, mock_url: str) -> Generator:
        return _hf(settings, mock_url)


class TestResilientExtractive(GeneratorContract):
    @pytest.fixture
    def generator(self, settings: Settings) -> Generator:
        return ResilientGenerator(ExtractiveGenerator(), settings.model_calls, None)


class TestResilientHF(GeneratorContract):
    @pytest.fixture
    def generator(self, settings: Settings, mock_url: str) -> Generator:
        inner = _hf(settings, mock_url)
        return ResilientGenerator(inner, settings.with_overrides(llm="hf").model_calls, None)
