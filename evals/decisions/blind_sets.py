"""Both decisions on the sets written blind to the rules (``evals/datasets/probes``, its
README), at a run's settings: per set, the answerable questions refused, the no-context
accuracy and the unanswerable questions refused by kind (notebook 01), and each pair with what
its two questions retrieve for the semantic cache's modes (notebook 03). The team's own data,
not a holdout: the harness gates them as a regression check (a wrong refusal and a false hit
are counts, gated at what they measure), not as a promise for other notes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from evals.datasets import external
from evals.datasets.loader import load_dataset
from evals.decisions import semantic_eval
from evals.quality import relevance_eval
from rag_core.decisions.relevance import RelevancePolicy
from rag_core.pipeline import Pipeline

PROBES_DIR = Path(__file__).resolve().parents[1] / "datasets" / "probes"


def names(root: Path = PROBES_DIR) -> list[str]:
    return sorted(p.name for p in root.iterdir() if (p / "qa.jsonl").is_file())


def measure(pipeline: Pipeline, sets: Sequence[str] | None = None,
            root: Path = PROBES_DIR) -> pd.DataFrame:
    """A row per set (its notes ingested for its own users first), decided under the
    pipeline's settings."""
    policy = RelevancePolicy.from_settings(pipeline.parts.settings)
    rows = []
    for name in tqdm(sets or names(root), desc="sets written blind", unit="set"):
        data = load_dataset(root / name)
        external.ensure_ingested(pipeline, data.root)
        frame = relevance_eval.decide_all(relevance_eval.collect(pipeline, data.qa), policy)
        nc, ans = frame[frame["expect_no_context"]], frame[~frame["expect_no_context"]]
        row: dict[str, object] = {
            "set": name, "answerable": len(ans), "refused": int((~ans["answered"]).sum()),
            "unanswerable": len(nc), "no_context_accuracy": float((~nc["answered"]).mean())}
        kinds = nc["id"].map(dict(zip(data.qa["id"], data.qa["kind"].fillna("-"), strict=True)))
        for kind, part in nc.groupby(kinds):
            row[f"refused: {kind}"] = f"{int((~part['answered']).sum())} of {len(part)}"
        rows.append(row)
    return pd.DataFrame(rows)


def metrics(table: pd.DataFrame | None) -> dict[str, object]:
    """For the runner (``quality.blind_sets.*``): answerable questions refused and
    unanswerable questions refused over every set, the sets whose no-context accuracy is under
    issue 45's 0.50 (counts), the lowest no-context accuracy of a set, and each set's two
    rates; None for a run that skipped them (own data, smoke), so that their gates skip."""
    if table is None or table.empty:
        return dict.fromkeys(("answerable_refused", "no_context_refused", "sets_under_half",
                              "min_no_context_accuracy"))
    refused = (table["no_context_accuracy"] * table["unanswerable"]).round().astype(int)
    return {"answerable_refused": int(table["refused"].sum()),
            "no_context_refused": int(refused.sum()),
            "sets_under_half": int((table["no_context_accuracy"] < 0.5).sum()),
            "min_no_context_accuracy": float(table["no_context_accuracy"].min()),
            **{str(r["set"]): {"wrong_no_context_rate": r["refused"] / r["answerable"],
                               "no_context_accuracy": r["no_context_accuracy"]}
               for r in table.to_dict("records")}}


def pair_rows(pipeline: Pipeline, sets: Sequence[str] | None = None,
              root: Path = PROBES_DIR) -> dict[str, list[semantic_eval.PairEvidence]]:
    """Each set's pairs with what both questions retrieve (its notes ingested first)."""
    out = {}
    for name in sets or names(root):
        data = load_dataset(root / name)
        external.ensure_ingested(pipeline, data.root)
        out[name] = semantic_eval.collect(pipeline, data.pairs, depth=5)
    return out


def pair_metrics(modes: pd.DataFrame, sets: Sequence[str]) -> dict[str, object]:
    """For the runner (``cache.blind_sets.*``): the default mode's (strict) near misses reused
    and paraphrases reused over the sets (counts), from ``decisions_eval.mode_table``; None
    for a run without them, so that their gate skips."""
    strict = modes[(modes["mode"] == "strict") & modes["set"].isin(list(sets))]
    if strict.empty:
        return {"blind_sets": dict.fromkeys(
            ("semantic_false_hits", "semantic_reused", "near_misses"))}
    reused = (strict["reuse"] * strict["paraphrases"]).round().astype(int)
    return {"blind_sets": {"semantic_false_hits": int(strict["false_hits"].sum()),
                           "semantic_reused": int(reused.sum()),
                           "near_misses": int(strict["near_misses"].sum())}}
