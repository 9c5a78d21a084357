"""The semantic cache's telemetry on the real Redis: the nearest cached similarity of every
lookup (a histogram) and every decision by its reason (a counter with a bounded label)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rag_core.cache.semantic import SemanticLookup, judge_for, reason_code, semantic_for
from rag_core.config import Settings
from rag_core.redis_kv.client import shared_client
from rag_core.telemetry import metrics
from rag_core.types import Chunk

pytestmark = [pytest.mark.integration]


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def decisions(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("semantic_cache_decisions_total",
                                             {"reason": reason}) or 0.0


def nearest() -> tuple[float, float]:
    """(lookups observed, sum of their nearest similarities)."""
    get = metrics.REGISTRY.get_sample_value
    return (get("semantic_cache_nearest_similarity_count") or 0.0,
            get("semantic_cache_nearest_similarity_sum") or 0.0)


def test_every_lookup_is_counted_by_reason_with_its_nearest(redis_url: str,
                                                            settings: Settings) -> None:
    # loose: the reworded question below is reused there (strict asks every word to be found
    # in the other question); the telemetry is the same in every mode
    loose = settings.with_overrides(semantic_mode="loose")
    semantic = semantic_for(shared_client(redis_url, loose), loose, judge=judge_for(loose))
    evidence = [Chunk(chunk_id="c1", note_id="amara-005", user_id="amara", ordinal=0,
                      text="Okafor said prayer is a conversation.", score=0.6)]
    vec = unit(1)

    before = decisions("empty_scope"), nearest()
    semantic.decide("metrics-user", 1, "What did Okafor say about prayer?", vec)
    assert decisions("empty_scope") == before[0] + 1
    assert nearest() == before[1]  # nothing cached: no similarity to observe

    semantic.store("metrics-user", 1, "What did Okafor say about prayer?", vec, b"a", 60,
                   evidence)
    before = decisions("reuse"), nearest()
    near = vec + 0.01 * unit(2)
    near /= np.linalg.norm(near)
    hit = semantic.decide("metrics-user", 1, "According to Okafor, what is prayer?", near,
                          lambda: evidence)
    assert hit.hit is not None and decisions("reuse") == before[0] + 1
    count, total = nearest()
    assert count == before[1][0] + 1
    assert total - before[1][1] == pytest.approx(hit.hit.similarity, abs=1e-6)

    before = decisions("below_floor"), nearest()
    far = semantic.decide("metrics-user", 1, "Who founded the choir?", unit(3))
    assert far.decision is None and decisions("below_floor") == before[0] + 1
    assert nearest()[0] == before[1][0] + 1  # an unrelated question still has a nearest

    semantic.store("metrics-user", 1, "What did Okafor say about prayer in 2023?", vec, b"x",
                   60, evidence)
    before = decisions("dates")
    refused = semantic.decide("metrics-user", 1, "What did Okafor say about prayer in 2024?",
                              vec, lambda: evidence)
    assert refused.hit is None and decisions("dates") == before + 1


def test_the_reason_label_stays_bounded() -> None:
    def lookup(reason: str) -> SemanticLookup:
        return SemanticLookup(None, SimpleNamespace(reason=reason))  # type: ignore[arg-type]

    assert reason_code(lookup("numbers"), 0.9) == "numbers"
    assert reason_code(lookup("What did Okafor say? (free text)"), 0.9) == "other"
    assert reason_code(lookup("x" * 200), 0.9) == "other"
    coded = SemanticLookup(None, SimpleNamespace(reason="a long explanation", code="question_kind"))  # type: ignore[arg-type]
    assert reason_code(coded, 0.9) == "question_kind"
    assert reason_code(SemanticLookup(None), None) == "empty_scope"
    assert reason_code(SemanticLookup(None), 0.3) == "below_floor"
