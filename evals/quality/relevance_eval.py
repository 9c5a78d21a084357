"""The no-context decision (``rag_core.decisions.relevance``) measured on golden QA items,
dev and test.

``collect`` retrieves each item's chunks from the real store as step 4 does (the user's notes,
the pipeline's retrieval mode and top_k); ``decide_all`` applies one policy and keeps why;
``score`` gives no-context accuracy (items whose right answer is "nothing in your notes":
out-of-scope questions and cross-user probes), the wrong-refusal rate (answerable items refused)
and recall@5 of the reference notes on the answerable items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from evals.datasets.golden import QAItem
from rag_core.decisions.note_facts import NoteFacts, NotesMemo
from rag_core.decisions.relevance import RelevancePolicy, decide_relevance
from rag_core.pipeline import Pipeline
from rag_core.store.filters import NO_FILTERS
from rag_core.types import Chunk


@dataclass(frozen=True)
class Retrieved:
    item: QAItem
    chunks: tuple[Chunk, ...]
    notes: NoteFacts | None = None  # the facts of all the user's notes


def judged_items(qa: pd.DataFrame) -> pd.DataFrame:
    """Items the decision is judged on: answerable ones and those expecting no context
    (injection and leak items are the guard's business)."""
    keep = qa["expect_no_context"] | qa["reference_note_ids"].apply(bool)
    return qa[keep].reset_index(drop=True)


def collect(pipeline: Pipeline, qa: pd.DataFrame, mode: str | None = None,
            top_k: int | None = None, *, narrow: bool = True) -> list[Retrieved]:
    """``narrow``: search among the notes the question names as the pipeline does
    (``answers.scope``); False is the ablation (every note searched)."""
    items: list[QAItem] = judged_items(qa).to_dict("records")
    parts = pipeline.parts
    vectors = parts.embedder.embed([i["question"] for i in items])
    settings = parts.settings if mode is None else parts.settings.with_overrides(
        retrieval_mode=mode)
    params = settings.retrieval
    memo = NotesMemo(parts.store.user_texts)  # the facts of each user's notes, as served
    facts = {u: memo.get(u, 0) for u in {i["user_id"] for i in items}}
    out = []
    for item, vector in zip(items, vectors, strict=True):
        filters = (pipeline.scope.filters_for(item["user_id"], item["question"]) if narrow
                   else NO_FILTERS)
        chunks = parts.store.search(item["user_id"], vector, top_k or settings.retrieval.top_k,
                                    query_text=item["question"], params=params, filters=filters)
        out.append(Retrieved(item, tuple(chunks), facts[item["user_id"]]))
    return out


def decide_all(rows: Sequence[Retrieved], policy: RelevancePolicy,
               scope: str = "notes") -> pd.DataFrame:
    """``scope``: where a named fact is looked for, all the user's notes as the pipeline does
    ("notes") or the retrieved chunks only ("retrieved")."""
    out = []
    for row in rows:
        d = decide_relevance(row.item["question"], row.chunks, policy=policy,
                             notes=row.notes if scope == "notes" else None)
        refs = set(row.item["reference_note_ids"])
        notes = list(dict.fromkeys(c.note_id for c in row.chunks))[:5]
        out.append({
            "id": row.item["id"], "user_id": row.item["user_id"],
            "split": row.item.get("split") or "test", "scenario": row.item["scenario"],
            "attack": row.item.get("attack"), "question": row.item["question"],
            "expect_no_context": bool(row.item["expect_no_context"]),
            "answered": d.answer, "reason": d.reason,
            "best": max((c.score for c in row.chunks), default=0.0),
            "recall_at_5": len(refs & set(notes)) / len(refs) if refs else None,
            "explanation": "; ".join(f"{k}: {v.detail}" for k, v in d.checks.items()
                                     if not v.passed),
        })
    return pd.DataFrame(out)


def score(frame: pd.DataFrame) -> dict[str, float | int | None]:
    nc = frame[frame["expect_no_context"]]
    ans = frame[~frame["expect_no_context"]]
    recall = pd.to_numeric(ans["recall_at_5"], errors="coerce").dropna()
    return {
        "no_context_items": len(nc), "answerable_items": len(ans),
        "no_context_accuracy": float((~nc["answered"]).mean()) if len(nc) else None,
        "wrong_refusal_rate": float((~ans["answered"]).mean()) if len(ans) else None,
        "recall_at_5": float(recall.mean()) if len(recall) else None,
    }


def by_split(frame: pd.DataFrame) -> dict[str, dict[str, float | int | None]]:
    return {s: score(frame[frame["split"] == s]) for s in ("dev", "test")
            if (frame["split"] == s).any()}


def by_scenario(frame: pd.DataFrame) -> pd.DataFrame:
    """Per split and scenario (cross-user probes apart): items, accuracy, wrong refusals."""
    view = frame.assign(group=frame["scenario"].where(frame["attack"].isna(),
                                                      frame["attack"].fillna("")))
    rows = []
    for (split, group), part in view.groupby(["split", "group"]):
        values = score(part)
        rows.append({"split": split, "scenario": group, "items": len(part),
                     "no_context_accuracy": values["no_context_accuracy"],
                     "wrong_refusal_rate": values["wrong_refusal_rate"]})
    return pd.DataFrame(rows)

