"""Near words for the no-context decision: the real embedder on single words, memoised."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from rag_core.config import Settings
from rag_core.decisions.relevance import RelevancePolicy, decide_relevance
from rag_core.decisions.word_match import WordMatcher
from rag_core.embedding import Embedder, build_embedder
from rag_core.types import Chunk


class Counting:
    """The real embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.asked: list[str] = []

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.asked += list(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def real() -> Embedder:
    return build_embedder(Settings())


def test_the_closest_word_and_each_word_embedded_once(real: Embedder) -> None:
    counting = Counting(real)
    matcher = WordMatcher(counting)  # type: ignore[arg-type]
    near = matcher.closest(["rock", "sibling"], ["stone", "ledger", "sister", "invoice"])
    assert near["rock"][1] == "stone" and near["sibling"][1] == "sister"
    assert all(0.0 < sim <= 1.0 + 1e-6 for sim, _ in near.values())
    assert matcher.closest(["rock"], ["stone", "ledger"])["rock"][1] == "stone"
    assert sorted(counting.asked) == sorted({"rock", "sibling", "stone", "ledger", "sister",
                                            "invoice"})  # the second call embedded nothing
    assert matcher.closest([], ["stone"]) == {} and matcher.closest(["rock"], []) == {}


def test_least_recently_used_words_leave_first(real: Embedder) -> None:
    counting = Counting(real)
    matcher = WordMatcher(counting, max_words=3)  # type: ignore[arg-type]
    matcher.vectors(["grace", "mercy", "storm"])
    matcher.vectors(["grace", "harvest"])  # mercy is now the oldest: out
    counting.asked.clear()
    matcher.vectors(["grace", "mercy"])
    assert counting.asked == ["mercy"]


def _chunk(text: str, score: float) -> Chunk:
    return Chunk(chunk_id="c", note_id="n", user_id="u", ordinal=0, text=text, score=score,
                 metadata={})


def test_a_reworded_question_is_covered_by_near_words(real: Embedder) -> None:
    chunks = [_chunk("The shepherd piled twelve stones in the stream so the flock could "
                     "cross when the water rose.", 0.40)]
    question = "Why would a shepherd stack rocks in a stream?"
    exact = decide_relevance(question, chunks)
    assert not exact.answer and exact.reason == "coverage"
    near = decide_relevance(question, chunks, matcher=WordMatcher(real))
    assert near.answer, near.checks
    assert "rock~stone" in near.checks["coverage"]["detail"]
    off = RelevancePolicy(word_similarity=1.01)
    assert not decide_relevance(question, chunks, policy=off, matcher=WordMatcher(real)).answer
    unrelated = decide_relevance("What did the invoice say about tax receipts?", chunks,
                                 matcher=WordMatcher(real))
    assert not unrelated.answer and unrelated.reason == "coverage"
