"""spaCy's vocabulary is bounded: a pipeline that has learnt ``VOCAB_GROWTH_MAX`` new words is
loaded afresh (``rag_core.text.nlp.nlp``), so that new words in questions never grow a
long-lived process without end."""

from __future__ import annotations

import pytest

from rag_core.text import nlp


def _new_words(n: int, start: int = 0) -> list[str]:
    """Questions with one word each that no vocabulary has (letters only: a number is a fact)."""
    letters = "abcdefghijklmnopqrstuvwxyz"

    def word(i: int) -> str:
        out = ""
        for _ in range(5):
            i, r = divmod(i, 26)
            out += letters[r]
        return "zq" + out

    return [f"What did I write about {word(i)}?" for i in range(start, start + n)]


def test_new_words_past_the_bound_load_the_pipeline_afresh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nlp, "VOCAB_GROWTH_MAX", 40)
    first = nlp.nlp()
    base = len(first.vocab)
    nlp.parse(_new_words(1)[0])
    assert nlp.parse.cache_info().currsize >= 1
    seen = []
    for question in _new_words(120, start=1):
        nlp.nlp()(question)
        seen.append(len(nlp.nlp().vocab))
    assert nlp.nlp() is not first  # replaced once it had learnt more than 40 words
    assert max(seen) <= base + 40 + 10  # never far past the bound (a question's own words)
    assert len(nlp.nlp().vocab) < base + 40 + 10
    assert nlp.parse.cache_info().currsize == 0  # the old pipeline's parses were dropped


def test_a_pipeline_under_the_bound_is_kept() -> None:
    first = nlp.nlp()
    for question in _new_words(5, start=10_000):
        nlp.parse(question)
    assert nlp.nlp() is first
