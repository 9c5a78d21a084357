"""The filters read from the question (``rag_core.answers.narrowing``) measured against their
ablation, in one run on one store: ``python -m evals.retrieval.narrowing_eval``.

Per set (the golden test split, ``../shared/eval-external/`` where present, the example set)
and with the narrowing off and on: the no-context decision's figures at the service's top_k
(``relevance_eval.score``: no-context accuracy, answerable refused, recall@5 of the notes), the
ranking of the first ten chunks' notes (recall@5, MRR, nDCG@10, as ``evals.retrieval.modes``
scores them) and how many questions were narrowed; then every item whose decision or recall
changed."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

import pandas as pd

from evals.quality import relevance_eval
from evals.retrieval.modes import score_ranking
from rag_core.decisions.relevance import RelevancePolicy
from rag_core.pipeline import Pipeline


def figures(pipeline: Pipeline, sets: Mapping[str, pd.DataFrame]
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per set and narrowing, the items that changed with it)."""
    policy = RelevancePolicy.from_settings(pipeline.parts.settings)
    rows, changed = [], []
    for name, qa in sets.items():
        frames = {}
        for narrow in (False, True):
            frame = relevance_eval.decide_all(relevance_eval.collect(pipeline, qa, narrow=narrow),
                                              policy)
            deep = relevance_eval.collect(pipeline, qa, top_k=10, narrow=narrow)
            ranks = pd.DataFrame([score_ranking([c.note_id for c in r.chunks],
                                                list(r.item["reference_note_ids"]))
                                  for r in deep if r.item["reference_note_ids"]])
            narrowed = sum(1 for r in deep if pipeline.scope.filters_for(
                r.item["user_id"], r.item["question"]).asked) if narrow else 0
            frames[narrow] = frame
            rows.append({"set": name, "narrowing": "on" if narrow else "off",
                         **relevance_eval.score(frame),
                         "ranked_recall_at_5": ranks["recall_at_5"].mean(),
                         "mrr": ranks["mrr"].mean(), "ndcg_at_10": ranks["ndcg_at_10"].mean(),
                         "narrowed": narrowed})
        off, on = frames[False], frames[True]
        for (_, a), (_, b) in zip(off.iterrows(), on.iterrows(), strict=True):
            if a["answered"] != b["answered"] or str(a["recall_at_5"]) != str(b["recall_at_5"]):
                changed.append({"set": name, "id": a["id"], "question": a["question"],
                                "answered": f"{a['answered']} -> {b['answered']}",
                                "recall_at_5": f"{a['recall_at_5']} -> {b['recall_at_5']}"})
    return pd.DataFrame(rows), pd.DataFrame(changed)


def main(argv: list[str] | None = None) -> None:
    from evals.datasets import external, golden
    from evals.datasets.example import EXAMPLE_DIR
    from evals.datasets.loader import load_dataset
    from evals.quality import evaluate as quality

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", default="", help="embedded services' folder")
    args = parser.parse_args(argv)
    pipeline = quality.build_pipeline(quality.eval_settings(state_dir=args.state_dir or None))
    golden.ensure_ingested(pipeline)
    sets = {"golden_test": golden.load_qa(split="test")}
    if external.available():
        external.ensure_ingested(pipeline)
        sets["external"] = external.load_qa()
    external.ensure_ingested(pipeline, EXAMPLE_DIR)
    sets["example"] = load_dataset(EXAMPLE_DIR).qa
    table, changed = figures(pipeline, sets)
    pd.set_option("display.width", 200)
    print(table.round(4).to_string(index=False))
    print(changed.to_string(index=False) if len(changed) else "no item changed")


if __name__ == "__main__":
    main()
