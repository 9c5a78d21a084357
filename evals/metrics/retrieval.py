"""Ranked-retrieval metrics against the reference note ids of a question.

The pipeline retrieves chunks; the golden set names notes. The ranked list that is scored is the
notes of the retrieved chunks in rank order, each note once (its best-ranked chunk counts), so
that three chunks of one note do not fill recall@3 or inflate precision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence


def notes_in_rank_order(retrieved: Iterable[Mapping[str, object] | str]) -> list[str]:
    """Note ids in rank order without duplicates; items are note ids or dicts with ``note_id``."""
    seen: set[str] = set()
    out: list[str] = []
    for item in retrieved:
        note_id = item if isinstance(item, str) else str(item["note_id"])
        if note_id not in seen:
            seen.add(note_id)
            out.append(note_id)
    return out


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def recall_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float | None:
    """Share of the relevant notes found in the first ``k``; None without relevant notes."""
    _check_k(k)
    wanted = set(relevant)
    if not wanted:
        return None
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def precision_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float | None:
    """Relevant notes among the first ``k`` divided by ``k`` (a short list is not rewarded)."""
    _check_k(k)
    wanted = set(relevant)
    if not wanted:
        return None
    return len(wanted.intersection(ranked[:k])) / k


def reciprocal_rank(ranked: Sequence[str], relevant: Iterable[str]) -> float | None:
    """1 / rank of the first relevant note, 0 when none was retrieved."""
    wanted = set(relevant)
    if not wanted:
        return None
    for rank, note_id in enumerate(ranked, start=1):
        if note_id in wanted:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: Iterable[str], k: int = 10) -> float | None:
    """Binary-relevance nDCG: DCG of the first ``k`` over the DCG of a perfect ranking."""
    _check_k(k)
    wanted = set(relevant)
    if not wanted:
        return None
    dcg = sum(1.0 / math.log2(rank + 1)
              for rank, note_id in enumerate(ranked[:k], start=1) if note_id in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal


def retrieval_scores(retrieved: Iterable[Mapping[str, object] | str],
                     relevant: Iterable[str]) -> dict[str, float | None]:
    """The retrieval columns of one question's row."""
    ranked = notes_in_rank_order(retrieved)
    wanted = list(relevant)
    return {
        "recall_at_1": recall_at_k(ranked, wanted, 1),
        "recall_at_3": recall_at_k(ranked, wanted, 3),
        "recall_at_5": recall_at_k(ranked, wanted, 5),
        "precision_at_5": precision_at_k(ranked, wanted, 5),
        "mrr": reciprocal_rank(ranked, wanted),
        "ndcg_at_10": ndcg_at_k(ranked, wanted, 10),
    }


def graded_ndcg_at_k(ranked: Sequence[str], gains: Mapping[str, float], k: int = 10
                     ) -> float | None:
    """nDCG with graded relevance as trec_eval and BEIR compute it: gain = the judged grade
    (linear), discount log2(rank + 1); None when nothing is judged relevant."""
    _check_k(k)
    positive = sorted((g for g in gains.values() if g > 0), reverse=True)
    if not positive:
        return None
    dcg = sum(gains.get(doc, 0.0) / math.log2(rank + 1)
              for rank, doc in enumerate(ranked[:k], start=1) if gains.get(doc, 0.0) > 0)
    ideal = sum(g / math.log2(rank + 1) for rank, g in enumerate(positive[:k], start=1))
    return dcg / ideal
