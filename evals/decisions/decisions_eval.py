"""Both decisions measured on every labelled set the team has:
``python -m evals.decisions.decisions_eval``.

The sets: the golden test split (``golden/``) and the set written outside the team
(``../shared/eval-external/``, when present: ``evals.datasets.external``). For the semantic
cache each pair is decided as a user whose cache was cleared would meet it: the pair's first
question cached (its retrieved evidence kept), then the second asked, so the only donor is the
first. Figures per set and mode: paraphrase reuse, near-miss false hits with the 95 % Wilson
upper bound of their rate, precision. For the no-context decision: accuracy on the no-context
questions, the share of answerable questions refused, recall@5 of the answerable ones. """

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from evals.datasets import external, golden
from evals.decisions import semantic_eval
from evals.decisions.rule_sets import Similar
from evals.judge.questions import wilson
from evals.quality import relevance_eval
from rag_core.config import Settings
from rag_core.decisions import semantic_rules as rules
from rag_core.decisions.relevance import RelevancePolicy
from rag_core.pipeline import Pipeline
from rag_core.store.base import MODES

GOLDEN = "golden_test"
EXTERNAL = "external"
EXAMPLE = "example"  # the init-dataset example (evals/datasets/example)


@dataclass
class Collected:
    """What one set retrieved: its pairs with their evidence, its QA items with their chunks."""

    name: str
    pairs: list[semantic_eval.PairEvidence] = field(default_factory=list)
    qa: list[relevance_eval.Retrieved] = field(default_factory=list)


def collect(pipeline: Pipeline, sets: Sequence[str] = (GOLDEN, EXTERNAL, EXAMPLE)
            ) -> dict[str, Collected]:
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
    if EXAMPLE in sets:
        from evals.datasets.example import EXAMPLE_DIR
        from evals.datasets.loader import load_dataset

        data = load_dataset(EXAMPLE_DIR)
        external.ensure_ingested(pipeline, EXAMPLE_DIR)
        out[EXAMPLE] = Collected(EXAMPLE, semantic_eval.collect(pipeline, data.pairs, depth=5),
                                 relevance_eval.collect(pipeline, data.qa))
    return out


def _interval(k: int, n: int) -> str | None:
    """The 95 % Wilson interval of ``k / n``, as "low-high"."""
    if not n:
        return None
    low, high = wilson(k, n)
    return f"{low:.2f}-{high:.2f}"


def semantic_table(collected: Mapping[str, Collected], policies: Mapping[str, rules.Policy],
                   similar: Similar | None = None) -> pd.DataFrame:
    """One row per set and mode (or design): reuse, false hits, their Wilson bound."""
    rows = []
    for name, policy in policies.items():
        for set_name, data in collected.items():
            frame = semantic_eval.decide_all(data.pairs, policy, similar)
            rows.append({"set": set_name, "mode": name, **semantic_eval.reuse_figures(frame)})
    return pd.DataFrame(rows)


def relevance_table(collected: Mapping[str, Collected], policy: RelevancePolicy
                    ) -> pd.DataFrame:
    """One row per set: no-context accuracy, answerable refused (each with its 95 % Wilson
    interval), recall@5."""
    rows = []
    for set_name, data in collected.items():
        frame = relevance_eval.decide_all(data.qa, policy)
        values = relevance_eval.score(frame)
        nc, ans = frame[frame["expect_no_context"]], frame[~frame["expect_no_context"]]
        rows.append({"set": set_name, **values,
                     "no_context_95": _interval(int((~nc["answered"]).sum()), len(nc)),
                     "refused_95": _interval(int((~ans["answered"]).sum()), len(ans))})
    return pd.DataFrame(rows)


def external_rows(pipeline: Pipeline) -> dict[str, list[semantic_eval.PairEvidence]]:
    """``{"external": pairs with their evidence}``, or {} where the set is absent."""
    if not external.available():
        return {}
    external.ensure_ingested(pipeline)
    return {EXTERNAL: semantic_eval.collect(pipeline, external.load_semantic_pairs(), depth=5)}


def external_decisions(rows: Mapping[str, Sequence[semantic_eval.PairEvidence]],
                       policy: rules.Policy,
                       similar: Similar | None = None) -> pd.DataFrame | None:
    """The external set's pairs decided under ``policy``, a row per pair with its decision and
    why (``semantic_eval.decide_all``); None where the set is absent."""
    if EXTERNAL not in rows:
        return None
    return semantic_eval.decide_all(rows[EXTERNAL], policy, similar)


def external_pair_figures(decided: pd.DataFrame | None) -> dict[str, object]:
    """The figures of :func:`external_decisions`, named for the cache notebook's record
    (``external.semantic_false_hits`` ...); values None where the set is absent, so that its
    gates skip on machines without ``shared/``."""
    names = ("reuse", "false_hits", "near_misses", "false_hit_upper95", "precision")
    if decided is None:
        return {f"external.semantic_{n}": None for n in names}
    values = semantic_eval.reuse_figures(decided)
    return {f"external.semantic_{n}": values[n] for n in names}


def mode_table(rows: Mapping[str, Sequence[semantic_eval.PairEvidence]],
               policies: Mapping[str, rules.Policy],
               similar: Similar | None = None) -> pd.DataFrame:
    """``semantic_table`` of pair rows given per set (the notebook's own retrieval)."""
    return semantic_table({s: Collected(s, list(r)) for s, r in rows.items()}, policies,
                          similar)


def semantic_ablation(collected: Mapping[str, Collected], policy: rules.Policy,
                      similar: Similar | None = None) -> pd.DataFrame:
    """Each rule of ``policy`` left out in turn (a pair refused by that rule alone becomes a
    reuse; the rules are independent checks of one conjunction): reuse and false hits per set.
    The cosine floor is never left out: no rule may admit a candidate below it."""
    frames = {s: semantic_eval.decide_all(d.pairs, policy, similar)
              for s, d in collected.items()}
    ruled = sorted({r for f in frames.values() for fails in f["failed"] for r in fails}
                   - {"similarity"})
    rows = []
    for rule in ["(none)", *ruled]:
        row: dict[str, object] = {"left out": rule}
        for s, f in frames.items():
            hit = f["failed"].apply(lambda fails, r=rule: not [x for x in fails if x != r])
            values = semantic_eval.score(f.assign(hit=hit))
            row[f"{s} reuse"] = round(float(values["recall"]), 3)
            row[f"{s} false hits"] = f"{values['false_hits']}/{values['near_misses']}"
        rows.append(row)
    return pd.DataFrame(rows)


def relevance_ablation(collected: Mapping[str, Collected], policy: RelevancePolicy
                       ) -> pd.DataFrame:
    """Each no-context rule left out in turn: accuracy, answerable refused, per set."""
    from rag_core.decisions.relevance import decide_relevance

    failed: dict[str, list[tuple[bool, list[str]]]] = {}
    for s, data in collected.items():
        failed[s] = []
        for row in data.qa:
            d = decide_relevance(row.item["question"], row.chunks, policy=policy,
                                 notes=row.notes)
            fails = [k for k, v in d.checks.items() if not v.passed]
            failed[s].append((bool(row.item["expect_no_context"]), fails))
    ruled = sorted({r for rows in failed.values() for _, fails in rows for r in fails})
    out = []
    for rule in ["(none)", *ruled]:
        row_out: dict[str, object] = {"left out": rule}
        for s, rows in failed.items():
            answered = [(nc, not [x for x in fails if x != rule]) for nc, fails in rows]
            nc = [a for n, a in answered if n]
            ans = [a for n, a in answered if not n]
            row_out[f"{s} no-context accuracy"] = round(1 - sum(nc) / len(nc), 3) if nc else None
            row_out[f"{s} answerable refused"] = round(1 - sum(ans) / len(ans), 3) \
                if ans else None
        out.append(row_out)
    return pd.DataFrame(out)


def mode_policies(settings: Settings) -> dict[str, rules.Policy]:
    """The policy of each mode that reuses at all (``off`` reuses nothing)."""
    from rag_core.cache.semantic import policy_for

    return {mode: policy_for(settings, mode) for mode in ("strict", "loose")}


def main(argv: list[str] | None = None) -> None:
    from evals.quality import evaluate as quality

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", default="", help="embedded services' folder")
    parser.add_argument("--ablation", action="store_true", help="each rule left out in turn")
    parser.add_argument("--designs", action="store_true",
                        help="the semantic designs compared (evals.decisions.designs), with the "
                             "time each adds to a miss")
    parser.add_argument("--retrieval-mode", choices=list(MODES), default=None,
                        help="retrieval mode of every search (default: the service's)")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 200)
    settings = quality.eval_settings(state_dir=args.state_dir or None,
                                     **({"retrieval_mode": args.retrieval_mode}
                                        if args.retrieval_mode else {}))
    pipeline = quality.build_pipeline(settings)
    collected = collect(pipeline)
    from evals.decisions.word_match import WordMatcher

    similar = WordMatcher(pipeline.parts.embedder).closest  # for the designs' coverage rule
    print("## Semantic cache per set and mode")
    print(semantic_table(collected, mode_policies(settings), similar).round(3)
          .to_string(index=False))
    if args.designs:
        print_designs(collected, settings, similar)
    print("## No context per set")
    relevance = RelevancePolicy.from_settings(settings)
    print(relevance_table(collected, relevance).round(3).to_string(index=False))
    if args.ablation:
        for mode, policy in mode_policies(settings).items():
            print(f"## Ablation: the {mode} semantic decision, each rule left out")
            print(semantic_ablation(collected, policy, similar).to_string(index=False))
        print("## Ablation: the no-context decision, each rule left out")
        print(relevance_ablation(collected, relevance).to_string(index=False))


def print_designs(collected: Mapping[str, Collected], settings: Settings,
                  similar: Similar | None) -> None:
    from evals.decisions import designs

    policies = designs.designs(settings)
    print("## Semantic cache per set and design")
    print(semantic_table(collected, policies, similar).round(3).to_string(index=False))
    print("## Time a design adds to a miss (every set's pairs)")
    rows = [r for data in collected.values() for r in data.pairs]
    print(pd.DataFrame([{"design": name, **designs.miss_latency(rows, policy, similar)}
                        for name, policy in policies.items()]).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
