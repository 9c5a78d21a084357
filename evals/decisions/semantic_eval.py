"""The semantic-cache decision measured on labelled question pairs, split by dev and test.

``collect`` asks the real store what each side of a pair retrieves (the user's own notes,
hybrid retrieval, as the pipeline does) and the real model how close the two questions are;
``decide_all`` runs one :class:`~rag_core.decisions.semantic_rules.Policy` on every pair, keeping
each decision's recorded reasons; ``score`` gives recall (paraphrases reused), false hits (near
misses reused) and precision. The designs of issue 16 compared on the dev split (and the
policy switches they needed) are retired: their figures stay in docs/decisions.md, their
code in git history (before issue 45's third of the rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from evals.decisions.rule_sets import Similar, decide
from evals.judge.questions import wilson
from rag_core.decisions import semantic_rules as rules
from rag_core.pipeline import Pipeline


@dataclass(frozen=True)
class PairEvidence:
    pair: Mapping[str, object]
    similarity: float
    a: rules.Evidence
    b: rules.Evidence


def same_note_pairs(qa: pd.DataFrame) -> list[dict[str, object]]:
    """Negatives that traffic has plenty of: two different golden questions of one user about
    the same single reference note (both orders), labelled ``near_miss`` of kind
    ``same_note``; each keeps the split of its items (pairs across splits are left out).
    Injection and leak items are left out: their wording is not a question about the note."""
    items = qa[(qa["reference_note_ids"].apply(len) == 1) & qa["attack"].isna()]
    out = []
    key = items["reference_note_ids"].apply(lambda v: v[0])
    for _, group in items.groupby(key):
        rows = group.to_dict("records")
        for x in rows:
            for y in rows:
                if x["id"] == y["id"] or x.get("split") != y.get("split"):
                    continue
                if x["question"].strip().lower() == y["question"].strip().lower():
                    continue
                out.append({"id": f"{x['id']}~{y['id']}", "user_id": x["user_id"],
                            "a": x["question"], "b": y["question"], "label": "near_miss",
                            "kind": "same_note", "split": x.get("split") or "test"})
    return out


def figures(pairs: pd.DataFrame, same_note: pd.DataFrame | None = None,
            split: str = "test") -> dict[str, object]:
    """The recorded figures: ``split``'s under plain names, the other part's under ``dev.``
    (or ``test.``): recall, false hits (count and rate) and precision on the labelled pairs,
    false hits among the same-note negatives."""
    out: dict[str, object] = {}
    for part in ("dev", "test"):
        rows = pairs[pairs["split"] == part]
        if rows.empty:
            continue
        prefix = "" if part == split else f"{part}."
        values = score(rows)
        out.update({f"{prefix}semantic_recall": values["recall"],
                    f"{prefix}semantic_false_hits": values["false_hits"],
                    f"{prefix}semantic_false_hit_rate": values["false_hit_rate"],
                    f"{prefix}semantic_false_hit_upper95": wilson(
                        int(values["false_hits"]), int(values["near_misses"]))[1],
                    f"{prefix}semantic_precision": values["precision"],
                    f"{prefix}semantic_pairs": len(rows)})
        if same_note is not None:
            neg = same_note[same_note["split"] == part]
            out[f"{prefix}semantic_same_note_false_hits"] = int(neg["hit"].sum())
            out[f"{prefix}semantic_same_note_pairs"] = len(neg)
    return out


def by_kind(frame: pd.DataFrame) -> pd.DataFrame:
    """Near misses per kind (speaker, year, ...) and split: how many, how many reused."""
    near = frame[frame["label"] == "near_miss"].assign(
        kind=lambda f: f["kind"].replace("", "unlabelled"))
    return (near.groupby(["split", "kind"])["hit"].agg(pairs="size", false_hits="sum")
            .reset_index())


def collect(pipeline: Pipeline, pairs: Sequence[Mapping[str, object]], *, depth: int = 3,
            mode: str | None = None) -> list[PairEvidence]:
    """Similarity and retrieved evidence of both sides of every pair (the pipeline's store
    must hold the pairs' users' notes)."""
    texts = list(dict.fromkeys([str(p["a"]) for p in pairs] + [str(p["b"]) for p in pairs]))
    vectors = dict(zip(texts, pipeline.parts.embedder.embed(texts), strict=True))
    settings = pipeline.parts.settings
    params = (settings if mode is None
                                        else settings.with_overrides(retrieval_mode=mode)).retrieval
    found: dict[tuple[str, str], rules.Evidence] = {}
    for pair in pairs:
        for text in (str(pair["a"]), str(pair["b"])):
            key = (str(pair["user_id"]), text)
            if key not in found:
                chunks = pipeline.parts.store.search(
                    key[0], vectors[text], settings.retrieval.top_k, query_text=text, params=params,
                    filters=pipeline.scope.filters_for(key[0], text))  # as the pipeline
                found[key] = rules.Evidence.of(chunks, depth)
    return [PairEvidence(p, float(np.dot(vectors[str(p["a"])], vectors[str(p["b"])])),
                         found[(str(p["user_id"]), str(p["a"]))],
                         found[(str(p["user_id"]), str(p["b"]))])
            for p in pairs]


def decide_all(rows: Sequence[PairEvidence], policy: rules.Policy,
               similar: Similar | None = None) -> pd.DataFrame:
    """One row per pair: its label, kind, split, the decision and why (the cached question is
    ``a``, the new one ``b``: a user whose cache was cleared asks ``a``, then ``b``, so ``a``
    is the only donor). ``similar``: near words for the coverage rule of ``designs``
    (``evals.decisions.word_match.WordMatcher.closest``)."""
    out = []
    for row in rows:
        d = decide(str(row.pair["b"]), str(row.pair["a"]), row.similarity, policy, row.b,
                   row.a, similar)
        out.append({"id": row.pair["id"], "user_id": row.pair["user_id"],
                    "split": row.pair.get("split", "test"), "label": row.pair["label"],
                    "kind": row.pair.get("kind") or "", "a": row.pair["a"],
                    "b": row.pair["b"], "similarity": row.similarity, "hit": d.hit,
                    "reason": d.reason, "failed": [c.rule for c in d.checks if not c.passed],
                    "explanation": "; ".join(f"{c.rule}: {c.detail}" for c in d.checks
                                             if not c.passed)})
    return pd.DataFrame(out)


def score(frame: pd.DataFrame) -> dict[str, float | int]:
    """Recall, false hits and precision of a set of decided pairs."""
    para = frame[frame["label"] == "paraphrase"]
    near = frame[frame["label"] == "near_miss"]
    tp, fp = int(para["hit"].sum()), int(near["hit"].sum())
    return {"paraphrases": len(para), "near_misses": len(near), "hits": tp + fp,
            "recall": tp / len(para) if len(para) else 0.0,
            "false_hits": fp, "false_hit_rate": fp / len(near) if len(near) else 0.0,
            "precision": tp / (tp + fp) if tp + fp else 1.0}


def reuse_figures(frame: pd.DataFrame) -> dict[str, float | int]:
    """Reuse (paraphrases reused), false hits (near misses reused) with the 95 % Wilson upper
    bound of their rate, and precision, of one set of decided pairs."""
    values = score(frame)
    return {"reuse": values["recall"], "paraphrases": values["paraphrases"],
            "false_hits": values["false_hits"], "near_misses": values["near_misses"],
            "false_hit_upper95": wilson(int(values["false_hits"]),
                                         int(values["near_misses"]))[1],
            "precision": values["precision"]}


def by_split(frame: pd.DataFrame) -> dict[str, dict[str, float | int]]:
    """``{"dev": {...}, "test": {...}}`` (splits present only)."""
    return {s: score(frame[frame["split"] == s]) for s in ("dev", "test")
            if (frame["split"] == s).any()}


def refusals(frame: pd.DataFrame) -> pd.DataFrame:
    """Which rule refused how many paraphrases and near misses (first refusing rule)."""
    refused = frame[~frame["hit"]]
    table = pd.crosstab(refused["reason"], refused["label"])
    return table.reindex(columns=["paraphrase", "near_miss"], fill_value=0)


def false_hits(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["label"] == "near_miss") & frame["hit"]][
        ["id", "split", "kind", "a", "b", "similarity"]]


def threshold_sweep(rows: Sequence[PairEvidence], policy: rules.Policy,
                    thresholds: Iterable[float]) -> pd.DataFrame:
    """Recall and false hits of ``policy`` at each threshold, per split."""
    out = []
    for t in thresholds:
        frame = decide_all(rows, replace(policy, threshold=float(t)))
        for split, values in by_split(frame).items():
            out.append({"threshold": float(t), "split": split, **values})
    return pd.DataFrame(out)


def alternatives_table(rows: Sequence[PairEvidence],
                       alternatives: Mapping[str, rules.Policy] | None = None,
                       splits: Sequence[str] = ("dev", "test")) -> pd.DataFrame:
    """One row per design, recall and false hits per split."""
    out = []
    designs: dict[str, pd.DataFrame] = {}
    for name, policy in (alternatives or {"loose": rules.Policy(canonical="first")}).items():
        designs[name] = decide_all(rows, policy)
    for name, frame in designs.items():
        row: dict[str, object] = {"design": name}
        for split in splits:
            part = frame[frame["split"] == split]
            if part.empty:
                continue
            values = score(part)
            row[f"{split}_recall"] = round(float(values["recall"]), 3)
            row[f"{split}_false_hits"] = f"{values['false_hits']}/{values['near_misses']}"
        out.append(row)
    return pd.DataFrame(out)
