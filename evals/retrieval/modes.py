"""Dense, lexical and hybrid retrieval side by side on the golden questions (issue: hybrid).

``compare_modes`` runs retrieval only (no generation) for every answerable golden question in
each mode and scores the ranked notes against the reference notes; ``mode_table`` averages per
mode and scenario; ``mode_metrics`` gives the flat figures that the quality notebook records,
including how far hybrid stands above the better of the two single modes (``hybrid_gain``) and
above dense (``hybrid_vs_dense``).  ``split`` keeps the items of one part of the golden set
(``dev`` for tuning, ``test`` for the gates) where the QA items carry a ``split`` field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NotRequired, TypedDict

import pandas as pd

from evals.datasets import golden
from evals.jsonish import number
from evals.metrics import retrieval
from rag_core.pipeline import Pipeline

MODES = ("dense", "lexical", "hybrid")
MODE_METRICS = ("recall_at_5", "mrr", "ndcg_at_10")


def answerable(qa: pd.DataFrame) -> pd.DataFrame:
    """Items with reference notes that expect an answer (the ones retrieval can be scored on)."""
    has_refs = qa["reference_note_ids"].apply(lambda refs: len(refs) > 0)
    return qa[has_refs & ~qa["expect_no_context"].astype(bool)]


def select_split(qa: pd.DataFrame, split: str | None) -> tuple[pd.DataFrame, str]:
    """The items of ``split`` (None: all), and a line saying what was kept."""
    if split is None:
        return qa, f"all {len(qa)} items"
    if "split" not in qa.columns:
        return qa, f"no split field in the QA items yet: all {len(qa)} items, not only {split}"
    part = qa[qa["split"] == split].reset_index(drop=True)
    if part.empty:
        raise ValueError(f"no QA items in split {split!r}")
    return part, f"{len(part)} {split} items of {len(qa)}"


def score_ranking(note_ids: Sequence[str], relevant: Sequence[str]) -> dict[str, float | None]:
    """recall@5, MRR and nDCG@10 of one ranked list of note ids (duplicates removed)."""
    ranked = retrieval.notes_in_rank_order(note_ids)
    return {
        "recall_at_5": retrieval.recall_at_k(ranked, relevant, 5),
        "mrr": retrieval.reciprocal_rank(ranked, relevant),
        "ndcg_at_10": retrieval.ndcg_at_k(ranked, relevant, 10),
    }


def compare_modes(pipeline: Pipeline, qa: pd.DataFrame, modes: Sequence[str] = MODES, *,
                  depth: int = 10, sample: int = 0, seed: int = 0, split: str | None = None,
                  progress: bool = True) -> pd.DataFrame:
    """One row per (mode, question): the scores of that mode's top ``depth`` chunks."""
    from evals.quality.evaluate import _progress, with_settings

    qa, kept = select_split(qa, split)
    if progress:
        print(f"retrieval modes on {kept}")
    items: list[golden.QAItem] = answerable(golden.sample_qa(qa, sample, seed)).to_dict("records")
    rows: list[dict[str, object]] = []
    for mode in modes:
        pipe = with_settings(pipeline, retrieval_mode=mode)
        for item in _progress(items, f"retrieval {mode}", progress):
            chunks = pipe.search(item["user_id"], item["question"], top_k=depth)
            rows.append({
                "mode": mode,
                "id": item["id"],
                "scenario": item["scenario"],
                **score_ranking([c.note_id for c in chunks], list(item["reference_note_ids"])),
            })
    return pd.DataFrame(rows)


def mode_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean of each metric per mode, overall and per scenario (rows: mode, scenario)."""
    if frame.empty:
        return pd.DataFrame(columns=["mode", "scenario", "n", *MODE_METRICS])
    overall = frame.assign(scenario="overall")
    both = pd.concat([overall, frame], ignore_index=True)
    table = both.groupby(["mode", "scenario"], sort=False).agg(
        n=("id", "count"), **{m: (m, "mean") for m in MODE_METRICS}).reset_index()
    return table


def best_single(table: pd.DataFrame, metric: str = "ndcg_at_10") -> tuple[str, float]:
    """The better of dense and lexical overall on ``metric``."""
    overall = table[(table["scenario"] == "overall") & table["mode"].isin(["dense", "lexical"])]
    best = overall.sort_values(metric, ascending=False).iloc[0]
    return str(best["mode"]), float(best[metric])


class ModeMetrics(TypedDict):
    modes: dict[str, dict[str, object]]  # mode -> its overall metrics and {scenario: metrics}
    hybrid_gain: NotRequired[dict[str, float]]
    hybrid_vs_dense: NotRequired[dict[str, float]]


def mode_metrics(table: pd.DataFrame) -> ModeMetrics:
    """``{"modes": {mode: {metric, scenario: {metric}}}, "hybrid_gain": {metric: ...}}``.

    ``hybrid_gain.<metric>`` is hybrid's overall value minus the better single mode's: at
    least 0 means hybrid is as good as the better of dense and lexical.
    """
    modes: dict[str, dict[str, object]] = {}
    for row in table.to_dict("records"):
        values = {m: row[m] for m in MODE_METRICS}
        entry = modes.setdefault(row["mode"], {})
        if row["scenario"] == "overall":
            entry.update(values)
        else:
            entry[row["scenario"]] = values
    out: ModeMetrics = {"modes": modes}
    present = set(table["mode"])
    if {"dense", "lexical", "hybrid"} <= present:
        overall = table[table["scenario"] == "overall"].set_index("mode")
        out["hybrid_gain"] = {
            m: float(overall.loc["hybrid", m] - max(overall.loc["dense", m],
                                                   overall.loc["lexical", m]))
            for m in MODE_METRICS
        }
    if {"dense", "hybrid"} <= present:
        overall = table[table["scenario"] == "overall"].set_index("mode")
        out["hybrid_vs_dense"] = {
            m: float(overall.loc["hybrid", m] - overall.loc["dense", m]) for m in MODE_METRICS}
    return out


def wide(table: pd.DataFrame, metric: str = "ndcg_at_10") -> pd.DataFrame:
    """Scenarios as rows, modes as columns, for one metric (for display and the plot)."""
    view = table.pivot(index="scenario", columns="mode", values=metric)
    order = ["overall", *[s for s in golden.SCENARIOS if s in view.index]]
    return view.reindex([s for s in order if s in view.index])


def by_mode(results: ModeMetrics) -> dict[str, float]:
    """Overall nDCG@10 per mode from ``mode_metrics`` output (a short line for the notebook)."""
    return {mode: number(values["ndcg_at_10"]) for mode, values in results["modes"].items()}
