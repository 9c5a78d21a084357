"""Both decisions measured on every labelled set the team has: ``python -m evals.decisions_eval``.

The sets: the golden test split (``golden/``) and the set written outside the team
(``../shared/eval-external/``, when present: ``evals.external``). For the semantic cache each
pair is decided as a user whose cache was cleared would meet it: the pair's first question
cached (its retrieved evidence kept), then the second asked, so the only donor is the first.
Figures per set and mode: paraphrase reuse, near-miss false hits with the 95 % Wilson upper
bound of their rate, precision. For the no-context decision: accuracy on the no-context
questions, the share of answerable questions refused, recall@5 of the answerable ones.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evals import external, golden, relevance_eval, semantic_eval
from rag_core.decisions import semantic_rules as rules
from rag_core.decisions.relevance import RelevancePolicy

GOLDEN = "golden_test"
EXTERNAL = "external"


@dataclass
class Collected:
    """What one set retrieved: its pairs with their evidence, its QA items with their chunks."""

    name: str
    pairs: list[semantic_eval.PairEvidence] = field(default_factory=list)
    qa: list[relevance_eval.Retrieved] = field(default_factory=list)


def collect(pipeline: Any, sets: Sequence[str] = (GOLDEN, EXTERNAL)) -> dict[str, Collected]:
    """Ingest and retrieve every set asked for (the external one only where it is present)."""
    out: dict[str, Collected] = {}
    if GOLDEN in sets:
        golden.ensure_ingested(pipeline)
        pairs = golden.load_semantic_pairs(split="test")
        qa = golden.load_qa(split="test")
        out[GOLDEN] = Collected(GOLDEN, semantic_eval.collect(pipeline, pairs, depth=5),
                                relevance_eval.collect(pipeline, qa))
    if EXTERNAL in sets and external.available():
        external.ensure_ingested(pipeline)
        out[EXTERNAL] = Collected(
            EXTERNAL, semantic_eval.collect(pipeline, external.load_semantic_pairs(), depth=5),
            relevance_eval.collect(pipeline, external.load_qa()))
    return out


def semantic_table(collected: Mapping[str, Collected], policies: Mapping[str, rules.Policy],
                   similar: rules.Similar | None = None) -> pd.DataFrame:
    """One row per set and mode (or design): reuse, false hits, their Wilson bound."""
    rows = []
    for name, policy in policies.items():
        for set_name, data in collected.items():
            frame = semantic_eval.decide_all(data.pairs, policy, similar)
            rows.append({"set": set_name, "mode": name, **semantic_eval.reuse_figures(frame)})
    return pd.DataFrame(rows)


def relevance_table(collected: Mapping[str, Collected], policy: RelevancePolicy,
                    matcher: Any = None) -> pd.DataFrame:
    """One row per set: no-context accuracy, answerable refused, recall@5."""
    rows = []
    for set_name, data in collected.items():
        frame = relevance_eval.decide_all(data.qa, policy, matcher)
        values = relevance_eval.score(frame)
        rows.append({"set": set_name, **values})
    return pd.DataFrame(rows)


def external_pair_figures(pipeline: Any, policy: rules.Policy,
                          similar: rules.Similar | None = None) -> dict[str, Any]:
    """The external set's figures under ``policy``, named for the cache notebook's record
    (``external.semantic_false_hits`` ...); values None where the set is absent, so that its
    gates skip on machines without ``shared/``."""
    names = ("reuse", "false_hits", "near_misses", "false_hit_upper95", "precision")
    if not external.available():
        return {f"external.semantic_{n}": None for n in names}
    external.ensure_ingested(pipeline)
    rows = semantic_eval.collect(pipeline, external.load_semantic_pairs(), depth=5)
    values = semantic_eval.reuse_figures(semantic_eval.decide_all(rows, policy, similar))
    return {f"external.semantic_{n}": values[n] for n in names}


def mode_policies(settings: Any) -> dict[str, rules.Policy]:
    """The policy of each mode that reuses at all (``off`` reuses nothing)."""
    from rag_core.cache.semantic import policy_for

    return {mode: policy_for(settings, mode) for mode in ("strict", "loose")}


def main(argv: list[str] | None = None) -> None:
    from evals import quality

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", default="", help="embedded services' folder")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 200)
    settings = quality.eval_settings(state_dir=args.state_dir or None)
    pipeline = quality.build_pipeline(settings)
    collected = collect(pipeline)
    similar = pipeline.words.closest
    print("## Semantic cache per set and mode")
    print(semantic_table(collected, mode_policies(settings), similar).round(3)
          .to_string(index=False))
    print("## No context per set")
    print(relevance_table(collected, RelevancePolicy.from_settings(settings), pipeline.words)
          .round(3).to_string(index=False))


if __name__ == "__main__":
    main()
