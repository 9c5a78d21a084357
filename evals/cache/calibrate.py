"""Print the dev curves of both decisions: ``python -m evals.cache.calibrate [--test]``.

Retrieves once (the golden notes in the embedded services of the ci profile), then scores the
alternatives of ``evals.cache.semantic_eval`` and ``evals.quality.relevance_eval`` and a threshold
sweep of
the chosen designs on the dev split. ``--test`` adds the test figures, for the note's table
only: choose on dev, never on these.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import pandas as pd

from evals.cache import semantic_eval
from evals.datasets import golden
from evals.quality import evaluate as quality
from evals.quality import relevance_eval
from rag_core.decisions.relevance import RelevancePolicy

Swept = Literal["floor"]  # the no-context policy's swept field


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", action="store_true", help="also print test figures")
    parser.add_argument("--state-dir", default="", help="embedded services' folder")
    args = parser.parse_args(argv)
    splits = ("dev", "test") if args.test else ("dev",)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 80)
    pipeline = quality.build_pipeline(quality.eval_settings(state_dir=args.state_dir or None))
    golden.ensure_ingested(pipeline)
    qa = golden.load_qa()
    pairs = golden.load_semantic_pairs()
    rows = semantic_eval.collect(pipeline, pairs, depth=5)
    negatives = semantic_eval.collect(pipeline, semantic_eval.same_note_pairs(qa), depth=5)
    print("## Semantic cache: alternatives (pairs; same-note negatives below)")
    print(semantic_eval.alternatives_table(rows, splits=splits).to_string(index=False))
    print(semantic_eval.alternatives_table(negatives, splits=splits).to_string(index=False))
    print("## Semantic cache: dev curve of the chosen design")
    sweep = semantic_eval.threshold_sweep(rows, semantic_eval.BASE,
                                          [0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8])
    print(sweep[sweep["split"].isin(splits)].round(3).to_string(index=False))
    print("## Semantic cache: dev curve of the corroborated band's floor (pairs, same-note)")
    bands = {f"band from {f:.2f}": replace(semantic_eval.BASE, corroborated=f)
             for f in (0.30, 0.35, 0.40, 0.45, 0.50, 0.60)}
    print(semantic_eval.alternatives_table(rows, bands, splits=splits).to_string(index=False))
    print(semantic_eval.alternatives_table(negatives, bands, splits=splits)
          .to_string(index=False))
    retrieved = relevance_eval.collect(pipeline, qa)
    print("## No context: alternatives")
    print(relevance_eval.alternatives_table(retrieved, splits=splits).round(3)
          .to_string(index=False))
    print("## No context: dev curve of the chosen design (floor)")
    print(relevance_curve(retrieved, "floor", (0.0, 0.15, 0.2, 0.25, 0.3, 0.35), splits)
          .round(3).to_string(index=False))


def _swept(policy: RelevancePolicy, field: Swept, value: float) -> RelevancePolicy:
    if field == "floor":
        return replace(policy, floor=value)
    raise ValueError(f"{field!r} is not a swept field of the no-context policy")


def relevance_curve(retrieved: Sequence[relevance_eval.Retrieved], field: Swept,
                    values: Sequence[float], splits: Sequence[str]) -> pd.DataFrame:
    """The chosen no-context policy with one field swept: the figures of each split."""
    out = []
    for value in values:
        frame = relevance_eval.decide_all(
            retrieved, _swept(relevance_eval.BASE, field, value))
        for split, figures in relevance_eval.by_split(frame).items():
            if split in splits:
                out.append({field: value, "split": split, **figures})
    return pd.DataFrame(out)

if __name__ == "__main__":
    main()
