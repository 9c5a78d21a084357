"""The no-context decision (``rag_core.decisions.relevance``) measured on golden QA items,
dev and test.

``collect`` retrieves each item's chunks from the real store as step 4 does (the user's notes,
the pipeline's retrieval mode and top_k); ``decide_all`` applies one policy and keeps why;
``score`` gives no-context accuracy (items whose right answer is "nothing in your notes":
out-of-scope questions and cross-user probes), the wrong-refusal rate (answerable items refused)
and recall@5 of the reference notes on the answerable items. ``ALTERNATIVES`` are the designs
compared on dev; test figures of the alternatives are measured once for the note, never to
choose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from evals.datasets.golden import QAItem
from rag_core.decisions.relevance import RelevancePolicy, decide_relevance
from rag_core.decisions.word_match import WordMatcher
from rag_core.pipeline import Pipeline
from rag_core.types import Chunk


@dataclass(frozen=True)
class Retrieved:
    item: QAItem
    chunks: tuple[Chunk, ...]


def judged_items(qa: pd.DataFrame) -> pd.DataFrame:
    """Items the decision is judged on: answerable ones and those expecting no context
    (injection and leak items are the guard's business)."""
    keep = qa["expect_no_context"] | qa["reference_note_ids"].apply(bool)
    return qa[keep].reset_index(drop=True)


def collect(pipeline: Pipeline, qa: pd.DataFrame, mode: str | None = None,
            top_k: int | None = None) -> list[Retrieved]:
    items: list[QAItem] = judged_items(qa).to_dict("records")
    parts = pipeline.parts
    vectors = parts.embedder.embed([i["question"] for i in items])
    settings = parts.settings if mode is None else parts.settings.with_overrides(
        retrieval_mode=mode)
    params = settings.retrieval
    out = []
    for item, vector in zip(items, vectors, strict=True):
        chunks = parts.store.search(item["user_id"], vector, top_k or settings.top_k,
                                    query_text=item["question"], params=params)
        out.append(Retrieved(item, tuple(chunks)))
    return out


def decide_all(rows: Sequence[Retrieved], policy: RelevancePolicy,
               matcher: WordMatcher | None = None) -> pd.DataFrame:
    """``matcher``: near words for the coverage rule, as the pipeline has them (None: exact
    lemmas only, whatever the policy says)."""
    out = []
    for row in rows:
        d = decide_relevance(row.item["question"], row.chunks, policy=policy, matcher=matcher)
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
            "explanation": "; ".join(f"{k}: {v['detail']}" for k, v in d.checks.items()
                                     if not v["passed"]),
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


BASE = RelevancePolicy()
LEXICAL = replace(BASE, word_similarity=1.01)  # exact lemmas only
ALTERNATIVES: dict[str, RelevancePolicy] = {
    "cosine >= 0.30 (before)": replace(LEXICAL, floor=0.30, names=False, coverage=False),
    "cosine >= 0.40": replace(LEXICAL, floor=0.40, names=False, coverage=False),
    "cosine >= 0.45": replace(LEXICAL, floor=0.45, names=False, coverage=False),
    "names, floor 0.30": replace(LEXICAL, floor=0.30, coverage=False),
    "noun coverage >= 0.66 or cosine >= 0.45, floor 0.25": replace(LEXICAL, names=False),
    "names + noun coverage (best 3 chunks), floor 0.30": replace(LEXICAL, floor=0.30, depth=3),
    "names + noun coverage >= 0.66 or cosine >= 0.45, floor 0.30": replace(LEXICAL, floor=0.30),
    "names + noun coverage >= 0.5 or cosine >= 0.45, floor 0.25": replace(LEXICAL,
                                                                           min_coverage=0.5),
    "names + noun coverage >= 0.66 or cosine >= 0.50, floor 0.25": replace(LEXICAL,
                                                                           confident=0.50),
    "names + noun coverage >= 0.66 or cosine >= 0.45, floor 0.25 (exact words)": LEXICAL,
    "... + near words at cosine >= 0.70": replace(BASE, word_similarity=0.70),
    "... + near words at cosine >= 0.55": replace(BASE, word_similarity=0.55),
    "... + near words at cosine >= 0.60 (chosen)": BASE,
}


def alternatives_table(rows: Sequence[Retrieved],
                       alternatives: Mapping[str, RelevancePolicy] | None = None,
                       splits: Sequence[str] = ("dev", "test"),
                       matcher: WordMatcher | None = None) -> pd.DataFrame:
    out = []
    for name, policy in (alternatives or ALTERNATIVES).items():
        frame = decide_all(rows, policy, matcher)
        row: dict[str, object] = {"design": name}
        for split, values in by_split(frame).items():
            if split not in splits:
                continue
            row[f"{split}_no_context_accuracy"] = values["no_context_accuracy"]
            row[f"{split}_wrong_refusal_rate"] = values["wrong_refusal_rate"]
        out.append(row)
    return pd.DataFrame(out)
