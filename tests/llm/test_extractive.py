"""The offline extractive generator, with the real tokenizer."""

from __future__ import annotations

import re

import pytest
from llm_helpers import make_chunk

from rag_core.llm.extractive import PREFIX, ExtractiveGenerator
from rag_core.llm.prompt import build_prompt, is_decline
from rag_core.text.sentences import split_sentences
from rag_core.tokens import default_counter
from rag_core.types import Chunk

CITE = re.compile(r"\[(\d+)\]")


def cited(text: str) -> set[int]:
    return {int(n) for n in CITE.findall(text)}


def test_answer_is_extractive_cited_and_deterministic(chunks: list[Chunk]) -> None:
    prompt = build_prompt("How old was Abraham when he left Haran?", chunks, 400)
    first = ExtractiveGenerator().generate(prompt)
    again = ExtractiveGenerator().generate(prompt)
    assert first == again
    assert first.text.startswith(PREFIX) and "extractive" in first.text.lower()
    assert "Abraham was seventy-five years old when he left Haran. [1]" in first.text
    assert cited(first.text) and cited(first.text) <= {1, 2, 3}
    body = first.text[len(PREFIX):]
    sentences = [s for s in re.split(r"(?<=\])\s+", body.strip()) if s]
    assert 2 <= len(sentences) <= 4 and all(CITE.search(s) for s in sentences)
    assert first.model == "extractive"


def test_usage_counts_with_the_real_tokenizer(chunks: list[Chunk]) -> None:
    prompt = build_prompt("What did Noah do?", chunks, 400)
    out = ExtractiveGenerator().generate(prompt)
    counter = default_counter()
    assert out.usage.input_tokens == sum(counter.count(m["content"]) for m in prompt.messages)
    assert out.usage.output_tokens == counter.count(out.text) > 0


def test_picks_sentences_that_match_the_question(chunks: list[Chunk]) -> None:
    out = ExtractiveGenerator().generate(build_prompt("When did the mango trees bear fruit?",
                                                      chunks, 400))
    assert "The trees first bore fruit in 2009, four years after she died. [2]" in out.text


def test_metadata_line_answers_who_and_when() -> None:
    chunk = make_chunk(1, "Noah kept building for years under a clear sky. People stared.",
                       title="Faith Moves", speaker="Rev. Daniel Brannigan", date="2024-09-08")
    other = make_chunk(2, "The prodigal son came home and his father ran to meet him.",
                       title="Stories Jesus Told")
    out = ExtractiveGenerator().generate(build_prompt("Who preached about Noah and when?",
                                                      [chunk, other], 400))
    assert '"Faith Moves" by Rev. Daniel Brannigan, September 8, 2024' in out.text


@pytest.mark.parametrize("budget", [16, 24, 40, 60, 120, 400])
def test_respects_the_output_budget(chunks: list[Chunk], budget: int) -> None:
    long = [make_chunk(i, " ".join(f"Sentence {i}-{j} talks about faith and long obedience in "
                                   f"the same direction for many years." for j in range(12)))
            for i in range(1, 4)]
    for sources in (chunks, long):
        out = ExtractiveGenerator().generate(build_prompt("What about faith?", sources, budget))
        assert default_counter().count(out.text) <= budget
        assert out.usage.output_tokens <= budget
        assert cited(out.text) <= set(range(1, len(sources) + 1))


def test_cites_only_chunks_of_the_prompt(chunks: list[Chunk]) -> None:
    tricky = make_chunk(1, "As [7] says, see [12] and [3]. Faith is trust that moves your feet.")
    out = ExtractiveGenerator().generate(build_prompt("What is faith?", [tricky], 400))
    appended = re.findall(r"\[(\d+)\](?=\s|$)", out.text)
    assert appended and set(appended) == {"1"}


def test_no_chunks_says_nothing_relevant() -> None:
    out = ExtractiveGenerator().generate(build_prompt("What is faith?", [], 400))
    assert is_decline(out.text)  # the prompt's decline marker: counted as no context
    assert not cited(out.text)


def test_stream_yields_the_same_text(chunks: list[Chunk]) -> None:
    gen = ExtractiveGenerator()
    prompt = build_prompt("What did Noah do?", chunks, 400)
    pieces = list(gen.stream(prompt))
    assert len(pieces) > 3 and "".join(pieces) == gen.generate(prompt).text


def test_overlapping_chunks_do_not_repeat_a_sentence() -> None:
    text = "Grace is a gift that nobody earns. Grace changes how we treat others every day."
    out = ExtractiveGenerator().generate(build_prompt(
        "What is grace?", [make_chunk(1, text), make_chunk(2, text)], 400))
    assert out.text.count("Grace is a gift that nobody earns.") == 1


def test_sentence_splitter_handles_markdown_and_abbreviations() -> None:
    text = ("## Main points\n- Dr. Smith read Jn. 3:16 aloud and\nthen prayed. St. Paul agreed.\n"
            "1. Second point without a full stop\n\nA new paragraph! Is it? Yes.")
    assert split_sentences(text) == [
        "Dr. Smith read Jn. 3:16 aloud and then prayed.", "St. Paul agreed.",
        "Second point without a full stop", "A new paragraph!", "Is it?", "Yes."]
