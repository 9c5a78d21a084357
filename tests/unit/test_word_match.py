"""Near words for the semantic cache: the real embedder on single words, memoised."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from evals.decisions.word_match import WordMatcher
from rag_core.config import Settings
from rag_core.embedding import Embedder, build_embedder


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
