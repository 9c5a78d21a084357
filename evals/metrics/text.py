"""Text metrics: ragas' non-LLM context metrics, ROUGE-L, and embedding similarity.

ragas compares strings with a whole-string Levenshtein similarity by default. The golden
references are single sentences and a retrieved chunk is ~200 tokens, so that similarity stays
near 0.1 even when the chunk contains the sentence word for word. The context metrics below keep
ragas' scoring (``NonLLMContextRecall``, ``NonLLMContextPrecisionWithReference``) but plug in a
partial-alignment similarity (rapidfuzz ``partial_ratio``: the best-matching window of the longer
string). On the golden corpus a reference sentence scores 1.0 against a chunk that holds it and
at most ~0.61 against unrelated chunks, hence the threshold of 0.8.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from ragas import SingleTurnSample
from ragas.metrics.collections import RougeScore
from rapidfuzz import fuzz, utils

from evals.metrics._aio import run_sync

if TYPE_CHECKING:
    from rag_core.embedding import Embedder

with warnings.catch_warnings():  # the non-LLM context metrics live only in the legacy namespace
    warnings.simplefilter("ignore", DeprecationWarning)
    from ragas.metrics import (
        NonLLMContextPrecisionWithReference,
        NonLLMContextRecall,
        NonLLMStringSimilarity,
    )

MATCH_THRESHOLD = 0.8


def partial_similarity(a: str, b: str) -> float:
    """Similarity in [0, 1] of the shorter string to its best-matching window in the longer."""
    if not a.strip() or not b.strip():
        return 0.0
    return float(fuzz.partial_ratio(a, b, processor=utils.default_process)) / 100.0


class PartialStringSimilarity(NonLLMStringSimilarity):  # type: ignore[misc]
    """ragas string metric whose score is :func:`partial_similarity`."""

    name: str = "partial_string_similarity"

    async def _single_turn_ascore(self, sample: SingleTurnSample, callbacks: object) -> float:
        return partial_similarity(str(sample.reference), str(sample.response))


def _recall_metric() -> NonLLMContextRecall:
    metric = NonLLMContextRecall(threshold=MATCH_THRESHOLD)
    metric._distance_measure = PartialStringSimilarity()
    return metric


def _precision_metric() -> NonLLMContextPrecisionWithReference:
    return NonLLMContextPrecisionWithReference(
        distance_measure=PartialStringSimilarity(), threshold=MATCH_THRESHOLD
    )


def context_scores(items: Sequence[tuple[Sequence[str], Sequence[str]]]
                   ) -> list[dict[str, float | None]]:
    """``context_recall`` and ``context_precision`` for each (retrieved texts, reference texts).

    Recall: share of reference sentences found in some retrieved chunk. Precision: ragas'
    average precision of the retrieved chunks (a chunk counts when it holds a reference).
    Both are None without reference texts and 0.0 when nothing was retrieved.
    """
    recall, precision = _recall_metric(), _precision_metric()

    async def score_all() -> list[dict[str, float | None]]:
        out: list[dict[str, float | None]] = []
        for retrieved, references in items:
            if not references or not retrieved:
                empty = None if not references else 0.0
                out.append({"context_recall": empty, "context_precision": empty})
                continue
            sample = SingleTurnSample(retrieved_contexts=list(retrieved),
                                      reference_contexts=list(references))
            r, p = await asyncio.gather(recall.single_turn_ascore(sample),
                                        precision.single_turn_ascore(sample))
            out.append({"context_recall": float(r), "context_precision": float(p)})
        return out

    return run_sync(score_all())


# (answer, reference) -> ROUGE-L scored in this process: a re-run in one kernel (``make lab``,
# the tune profile's warm kernel) meets most pairs again
_ROUGE_SEEN: dict[tuple[str, str], float] = {}


def rouge_l(pairs: Sequence[tuple[str, str | None]]) -> list[float | None]:
    """ROUGE-L F-measure of each (answer, reference answer); None without a reference."""
    metric = RougeScore(rouge_type="rougeL", mode="fmeasure")
    if len(_ROUGE_SEEN) > 50_000:
        _ROUGE_SEEN.clear()

    async def score_all() -> list[float | None]:
        out: list[float | None] = []
        for answer, reference in pairs:
            if not reference or not reference.strip():
                out.append(None)
            elif not answer or not answer.strip():
                out.append(0.0)
            else:
                if (answer, reference) not in _ROUGE_SEEN:
                    result = await metric.ascore(reference=reference, response=answer)
                    _ROUGE_SEEN[answer, reference] = float(result.value)
                out.append(_ROUGE_SEEN[answer, reference])
        return out

    return run_sync(score_all())


def semantic_similarity(embedder: Embedder, pairs: Sequence[tuple[str, str | None]]
                        ) -> list[float | None]:
    """Cosine similarity of the embeddings of each (answer, reference answer), one batch.

    ``embedder.embed(texts)`` must return unit-normalised rows (rag_core's embedder does).
    None without a reference; 0.0 for an empty answer.
    """
    todo = [i for i, (a, r) in enumerate(pairs) if r and r.strip() and a and a.strip()]
    out: list[float | None] = [
        None if not (r and r.strip()) else 0.0 for _, r in pairs
    ]
    if not todo:
        return out
    answers = embedder.embed([pairs[i][0] for i in todo])
    references = embedder.embed([str(pairs[i][1]) for i in todo])
    sims = np.sum(np.asarray(answers) * np.asarray(references), axis=1)
    for i, value in zip(todo, sims, strict=True):
        out[i] = float(np.clip(value, -1.0, 1.0))
    return out
