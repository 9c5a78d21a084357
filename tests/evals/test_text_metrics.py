import numpy as np
import pytest

from evals.metrics.text import (
    MATCH_THRESHOLD,
    context_scores,
    partial_similarity,
    rouge_l,
    semantic_similarity,
)

SENTENCE = "Abraham was seventy-five years old when he left Haran."
CHUNK = ("Pastor Okafor read Hebrews 11 twice. " + SENTENCE
         + " God told him to go to a land he would be shown later, without naming it.")
OTHER = "The choir sang a new hymn and the children collected tins for the food bank."


def test_partial_similarity_finds_a_sentence_inside_a_chunk():
    assert partial_similarity(SENTENCE, CHUNK) == pytest.approx(1.0)
    assert partial_similarity(SENTENCE, OTHER) < MATCH_THRESHOLD
    assert partial_similarity("", CHUNK) == 0.0


def test_context_recall_and_precision_with_ragas():
    [both] = context_scores([([OTHER, CHUNK], [SENTENCE])])
    assert both["context_recall"] == pytest.approx(1.0)
    # the relevant chunk is second: average precision 1/2
    assert both["context_precision"] == pytest.approx(0.5)
    [first] = context_scores([([CHUNK, OTHER], [SENTENCE])])
    assert first["context_precision"] == pytest.approx(1.0)


def test_context_recall_counts_references_found():
    [half] = context_scores([([CHUNK], [SENTENCE, "Noah kept building for years."])])
    assert half["context_recall"] == pytest.approx(0.5)


def test_context_edge_cases():
    none_ref, none_ret, dup = context_scores([
        ([CHUNK], []),
        ([], [SENTENCE]),
        ([CHUNK, CHUNK], [SENTENCE, SENTENCE]),
    ])
    assert none_ref == {"context_recall": None, "context_precision": None}
    assert none_ret == {"context_recall": 0.0, "context_precision": 0.0}
    assert dup["context_recall"] == pytest.approx(1.0)
    assert dup["context_precision"] == pytest.approx(1.0)


def test_rouge_l():
    same, partial, empty, no_ref = rouge_l([
        ("the cat sat on the mat", "the cat sat on the mat"),
        ("the cat sat", "the cat sat on the mat"),
        ("", "a reference"),
        ("an answer", None),
    ])
    assert same == pytest.approx(1.0)
    assert 0.0 < partial < 1.0
    assert empty == 0.0
    assert no_ref is None


class FakeEmbedder:
    """Deterministic unit vectors: the text's first word picks the direction."""

    def __init__(self):
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        out = []
        for text in texts:
            v = np.zeros(3, dtype=np.float32)
            v[{"a": 0, "b": 1}.get(text.split()[0], 2)] = 1.0
            out.append(v)
        return np.stack(out)


def test_semantic_similarity_is_cosine_in_one_batch():
    embedder = FakeEmbedder()
    sims = semantic_similarity(embedder, [("a x", "a y"), ("a x", "b y"), ("", "a"),
                                          ("a", None)])
    assert sims == [pytest.approx(1.0), pytest.approx(0.0), 0.0, None]
    assert embedder.calls == 2  # answers and references, once each


def test_semantic_similarity_with_nothing_to_embed():
    embedder = FakeEmbedder()
    assert semantic_similarity(embedder, [("a", None)]) == [None]
    assert embedder.calls == 0
