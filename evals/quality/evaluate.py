"""The quality evaluation that ``notebooks/01_quality_eval.ipynb`` shows.

``run_quality_eval`` asks the real pipeline every golden question and returns one row per
question with every metric column; ``summarise`` aggregates overall and per scenario;
``sweep`` repeats the run over top_k x context budget; ``worst_questions`` lists what to look at.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypedDict, TypeVar

import numpy as np
import pandas as pd

from evals.datasets import golden
from evals.knobs import harness_state_dir
from evals.metrics import behaviour, bootstrap, retrieval
from evals.quality import answer_figures as figures
from evals.quality import vectors
from evals.quality.vectors import MemoEmbedder
from rag_core.answer import Answer
from rag_core.config import Settings
from rag_core.pipeline import Pipeline

T = TypeVar("T")
ExtraColumns = Callable[[golden.QAItem, Answer, Mapping[str, str]], Mapping[str, object]]
Figures = dict[str, float | int | None]  # ``aggregate``'s metrics of some rows
RANK_COLUMNS = ("recall_at_1", "recall_at_3", "recall_at_5", "precision_at_5", "mrr", "ndcg_at_10")
TEXT_COLUMNS = ("context_recall", "context_precision", "rouge_l", "semantic_similarity")
# per answer: context tokens sent, generation tokens and dollars (evals/quality/answer_figures.py)
COST_COLUMNS = ("context_tokens", "tokens_in", "tokens_out", "cost_usd")
MEAN_COLUMNS = RANK_COLUMNS + TEXT_COLUMNS + COST_COLUMNS
# the harness's fixed choices for an evaluation (evals/knobs.py records them as "harness")
EVAL_HARNESS = {"profile": "ci", "llm": "extractive", "retrieval_mode": "auto",
                "cache_enabled": False, "semantic_cache_enabled": False}
SWEEP_METRICS = ("recall_at_5", "mrr", "context_recall", "rouge_l", "semantic_similarity",
                 "no_context_accuracy", "citation_validity", "prompt_tokens", "context_tokens",
                 "cost_usd")


def eval_settings(*, top_k: int = 5, context_budget: int = 1200, generator: str = "extractive",
                  similarity_threshold: float | None = None, retrieval_mode: str = "auto",
                  state_dir: str | Path | None = None,
                  **extra: object) -> Settings:  # Settings fields of every type
    """Settings of an evaluation run: ci profile, embedded services, caches off.

    Caches are off so that every question is answered afresh: a semantic-cache hit would
    return another question's answer and retrieval. An empty ``state_dir`` means the
    harness's state folder (``$RAG_STATE_DIR``, else the project's ``.rag_state``).
    """

    fields: dict[str, object] = {
        **EVAL_HARNESS,
        "state_dir": Path(state_dir) if state_dir else harness_state_dir(),
        "top_k": top_k,
        "context_token_budget": context_budget,
        "llm": generator,
        "retrieval_mode": retrieval_mode,
        **extra,
    }
    if similarity_threshold is not None:
        fields["similarity_threshold"] = similarity_threshold
    return Settings.from_fields(fields)


def build_pipeline(settings: Settings, *, sanitiser: bool = True) -> Pipeline:
    """The real pipeline of ``settings``, its embedder behind a :class:`MemoEmbedder` that
    keeps vectors across runs in the state folder (``evals/quality/vectors.py``)."""
    from rag_core.parts import parts_for, variant

    parts = parts_for(settings)
    memo = MemoEmbedder(parts.embedder, vectors.memo_for(settings, parts.embedder))
    return Pipeline(variant(parts, embedder=memo, sanitiser=sanitiser))


def with_settings(pipeline: Pipeline, **overrides: object) -> Pipeline:  # Settings fields
    """The same parts (store, model, caches, generator) under changed settings."""
    from rag_core.parts import with_settings as changed

    return Pipeline(changed(pipeline.parts, **overrides))


# --- one question --------------------------------------------------------------------------


def _flag(value: bool | None) -> float:
    return np.nan if value is None else float(bool(value))


def score_answer(item: golden.QAItem, answer: Answer, owners: Mapping[str, str],
                 retrieved_texts: Sequence[str] = ()) -> dict[str, object]:
    """The row of one question from its golden item and the pipeline's ``Answer``.

    ``retrieved_texts`` (the texts of the retrieved chunks) count as allowed content for the
    injection check: repeating the notes is not complying. Text metrics (context, ROUGE-L,
    similarity) are added later, in batches.
    """
    retrieved = list(answer.retrieved)
    chunk_ids = [r.chunk_id for r in retrieved]
    cited = list(answer.citations)
    refs = list(item["reference_note_ids"])
    answerable = bool(refs) and not item["expect_no_context"]
    mentioned = [r.note_id for r in retrieved] + [c.note_id for c in cited]
    foreign = behaviour.foreign_notes(item["user_id"], mentioned, owners)
    injection = None
    if item.get("attack") == "injection":
        allowed = [str(item["reference_answer"]), *item["reference_chunk_texts"], *retrieved_texts]
        injection = behaviour.injection_succeeded(item["question"], answer.answer, allowed)
    row: dict[str, object] = {
        "id": item["id"],
        "user_id": item["user_id"],
        "scenario": item["scenario"],
        "attack": item.get("attack"),
        "split": item.get("split") or "test",
        "question": item["question"],
        "answer": answer.answer,
        "no_context": bool(answer.no_context),
        "expect_no_context": bool(item["expect_no_context"]),
        "guard_flags": list(answer.flags),
        "top_score": float(retrieved[0].score) if retrieved else np.nan,
        "retrieved_texts": list(retrieved_texts),
        "retrieved_note_ids": retrieval.notes_in_rank_order(r.note_id for r in retrieved),
        "retrieved_titles": list(dict.fromkeys(r.title for r in retrieved)),
        "retrieved_chunk_ids": chunk_ids,
        "cited_chunk_ids": [c.chunk_id for c in cited],
        "cited_note_ids": [c.note_id for c in cited], "reference_note_ids": refs,
        **{k: (np.nan if v is None else v)
           for k, v in retrieval.retrieval_scores([r.note_id for r in retrieved], refs).items()},
        "no_context_correct": _flag(behaviour.no_context_correct(bool(item["expect_no_context"]),
                                                                 bool(answer.no_context))),
        "wrongly_refused": _flag(behaviour.wrongly_refused(
            bool(item["expect_no_context"]), bool(refs), bool(answer.no_context))),
        "leak": float(behaviour.leaks_prompt(answer.answer)),
        "injection_success": _flag(injection),
        "flagged": float(bool(answer.flags)),
        "foreign_note_ids": foreign,
        "cross_user_leak": float(bool(foreign)),
        "citation_valid": _flag(behaviour.citations_valid([c.chunk_id for c in cited],
                                                          chunk_ids)),
        "has_citation": np.nan if answer.no_context else float(bool(cited)),
        "answerable": answerable, "model_declined": float(answer.decisions.declined is not None),
        "latency_ms": float(answer.timings_ms.get("total", np.nan)),
        "prompt_tokens": float(getattr(answer.usage, "input_tokens", 0) or np.nan),
    }
    return row


# --- a run -----------------------------------------------------------------------------


def _progress(items: Sequence[T], label: str, enabled: bool) -> Iterable[T]:
    if not enabled:
        return items
    from tqdm.std import tqdm

    return tqdm(items, desc=label, file=sys.stderr, mininterval=2.0, ncols=90)


def run_quality_eval(settings: Settings, qa: pd.DataFrame, sample: int = 0, *, seed: int = 0,
                     sanitiser: bool = True, pipeline: Pipeline | None = None,
                     owners: Mapping[str, str] | None = None, progress: bool = True,
                     label: str = "questions", extra: ExtraColumns | None = None
                     ) -> pd.DataFrame:
    """Ask every (sampled) golden question; one row per question with all metric columns.

    ``pipeline`` defaults to one built from ``settings`` (the golden notes must be ingested:
    ``golden.ensure_ingested``); ``owners`` defaults to the golden notes' owner map.
    ``extra(item, answer, texts)`` adds columns to a row right after its question was asked
    (``texts``: chunk id -> text of the retrieved chunks); the generator comparison uses it.
    Context figures come from the answer's own record of what it sent (``answer.debug``;
    evals/quality/answer_figures.py): nothing is searched or packed again.
    """
    pipe = pipeline or build_pipeline(settings, sanitiser=sanitiser)
    owners = owners if owners is not None else golden.owner_map(golden.load_notes())
    items: list[golden.QAItem] = golden.sample_qa(qa, sample, seed).to_dict("records")
    rows: list[dict[str, object]] = []
    contexts: list[tuple[list[str], list[str]] | None] = []
    for item in _progress(items, label, progress):
        answer = pipe.ask(item["user_id"], item["question"], top_k=settings.retrieval.top_k)
        texts = figures.retrieved_texts(answer)  # what the answer retrieved and sent: answer.debug
        row = score_answer(item, answer, owners, list(texts.values()))
        row["packed_texts"], row["context_tokens"], sent = packed = figures.packed(answer)
        row.update(figures.usage_columns(answer))
        if extra is not None:
            row.update(extra(item, answer, texts))
        rows.append(row)
        # a refusal was sent no context: its context recall and precision are not measured
        contexts.append((packed[0], list(item["reference_chunk_texts"]))
                        if sent else None)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    for column, values in figures.text_columns(pipe.parts.embedder, frame, items, contexts).items():
        frame[column] = values
    return frame


# --- aggregation -----------------------------------------------------------------------


def _mean(values: pd.Series) -> float | None:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return None if numbers.empty else float(numbers.mean())


def aggregate(frame: pd.DataFrame) -> dict[str, float | int | None]:
    """The metrics of a set of rows (definitions: evals/metrics/behaviour.py)."""
    if frame.empty:
        return {"n": 0}
    attacks = frame["attack"].fillna("")
    out: dict[str, float | int | None] = {"n": int(len(frame))}
    out.update({col: _mean(frame[col]) for col in MEAN_COLUMNS if col in frame})
    latency = pd.to_numeric(frame["latency_ms"], errors="coerce").dropna()
    out.update({
        "no_context_accuracy": _mean(frame["no_context_correct"]),
        "wrong_no_context_rate": _mean(frame["wrongly_refused"]),
        "model_declined_rate": _mean(frame.get("model_declined", pd.Series(dtype=float))),
        "leak_rate": _mean(frame["leak"]),
        "injection_success_rate": _mean(frame["injection_success"]),
        "attack_detection_rate": _mean(frame.loc[attacks.isin(["injection", "leak"]),
                                                 "flagged"]),
        "false_flag_rate": _mean(frame.loc[frame["scenario"] != "adversarial", "flagged"]),
        "cross_user_leaks": int(frame["cross_user_leak"].sum()),
        "citation_validity": _mean(frame["citation_valid"]),
        "citation_coverage": _mean(frame["has_citation"]),
        "latency_p50_ms": float(latency.quantile(0.5)) if not latency.empty else None,
        "latency_p95_ms": float(latency.quantile(0.95)) if not latency.empty else None,
    })
    return out


class QualitySummary(TypedDict):
    overall: Figures  # every row's
    by_scenario: dict[str, Figures]


def summarise(frame: pd.DataFrame) -> QualitySummary:
    """``{"overall": {...}, "by_scenario": {scenario: {...}}}``."""
    present = [s for s in golden.SCENARIOS if s in set(frame.get("scenario", []))]
    present += sorted(set(frame.get("scenario", [])) - set(present))
    return {
        "overall": aggregate(frame),
        "by_scenario": {s: aggregate(frame[frame["scenario"] == s]) for s in present},
    }


def to_metrics(summary: QualitySummary) -> Figures:
    """Flat names for ``record``: ``recall_at_5`` and ``factual.recall_at_5`` (per scenario
    only where measured)."""
    out: Figures = dict(summary["overall"])
    for scenario, values in summary["by_scenario"].items():
        out.update({f"{scenario}.{k}": v for k, v in values.items() if v is not None})
    return out


def split_metrics(frame: pd.DataFrame, split: str = "test") -> dict[str, object]:
    """The recorded metrics: those of ``split`` (the test part: gates read it) under the plain
    names, per scenario and for cross-user probes, and the other part's under ``dev.`` (or
    ``test.``) for comparison. Rows without a split count as test."""
    splits = frame["split"].fillna("test") if "split" in frame else pd.Series(
        ["test"] * len(frame), index=frame.index)
    out: dict[str, object] = {}
    for part in ("dev", "test"):
        rows = frame[splits == part]
        if rows.empty:
            continue
        values = to_metrics(summarise(rows))
        probes = rows[rows["attack"].fillna("") == "cross_user"]
        if not probes.empty:
            values.update({f"cross_user.{k}": v for k, v in aggregate(probes).items()
                           if v is not None})
        prefix = "" if part == split else f"{part}."
        out.update({f"{prefix}{k}": v for k, v in values.items()})
    return out


def split_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows = the decision metrics, columns = dev and test, overall and per scenario."""
    keep = ("n", "recall_at_5", "no_context_accuracy", "wrong_no_context_rate")
    columns = {}
    for part in ("dev", "test"):
        rows = frame[frame["split"].fillna("test") == part]
        if rows.empty:
            continue
        summary = summarise(rows)
        columns[f"{part} overall"] = {k: summary["overall"].get(k) for k in keep}
        for scenario, values in summary["by_scenario"].items():
            columns[f"{part} {scenario}"] = {k: values.get(k) for k in keep}
    return pd.DataFrame(columns)


def metrics_table(summary: QualitySummary) -> pd.DataFrame:
    """Rows = metrics, columns = overall and each scenario (for display)."""
    columns = {"overall": summary["overall"], **summary["by_scenario"]}
    return pd.DataFrame(columns)


# --- sweep and worst questions -----------------------------------------------------------


def sweep(settings: Settings, qa: pd.DataFrame, top_ks: Sequence[int],
          context_budgets: Sequence[int], *, sample: int = 0, seed: int = 0,
          pipeline: Pipeline | None = None, owners: Mapping[str, str] | None = None,
          sanitiser: bool = True, progress: bool = True) -> pd.DataFrame:
    """One row per (top_k, context budget) with the overall metrics of a run."""
    base = pipeline or build_pipeline(settings, sanitiser=sanitiser)
    owners = owners if owners is not None else golden.owner_map(golden.load_notes())
    rows = []
    for k in top_ks:
        for budget in context_budgets:
            pipe = with_settings(base, top_k=k, context_token_budget=budget)
            frame = run_quality_eval(pipe.parts.settings, qa, sample, seed=seed, pipeline=pipe,
                                     owners=owners, progress=progress,
                                     label=f"top_k={k} budget={budget}")
            overall = aggregate(frame)
            cis = bootstrap.table(frame, ("context_recall", "rouge_l", "recall_at_5"), seed=seed)
            rows.append({"top_k": k, "context_budget": budget, "n": overall["n"],
                         "prompt_tokens": _mean(frame["prompt_tokens"]),
                         **{m: overall.get(m) for m in SWEEP_METRICS if m != "prompt_tokens"},
                         **{f"{m}_ci_{e}": cis.loc[m, f"ci_{e}"] for m in cis.index
                            for e in ("low", "high")}})
    return pd.DataFrame(rows)


def problems(row: Mapping[str, object]) -> list[str]:
    """Why a row is bad, in words (empty when nothing is wrong)."""
    out = []
    if row["leak"] == 1:
        out.append("system prompt leaked")
    if row["injection_success"] == 1:
        out.append("injection complied")
    if row["cross_user_leak"] == 1:
        ids = row["foreign_note_ids"]
        out.append(f"other users' notes: "
                   f"{', '.join(map(str, ids)) if isinstance(ids, Iterable) else ids}")
    if row["no_context_correct"] == 0:
        out.append("answered instead of no-context")
    if row["wrongly_refused"] == 1:
        out.append("refused an answerable question")
    if row["citation_valid"] == 0:
        out.append("cites an unretrieved chunk")
    if row["recall_at_5"] == 0:
        out.append("reference note not retrieved")
    elif isinstance(row["recall_at_5"], float) and 0 < row["recall_at_5"] < 1:
        out.append("some reference notes missing")
    return out


def worst_questions(frame: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` worst rows: behaviour failures first, then lowest recall, MRR, similarity."""
    if frame.empty:
        return frame
    view = frame.copy()
    view["problems"] = [problems(r) for r in view.to_dict("records")]
    view["_bad"] = view["problems"].apply(len)
    view["_r"] = view["recall_at_5"].fillna(1.0)
    view["_m"] = view["mrr"].fillna(1.0)
    view["_s"] = view["semantic_similarity"].fillna(1.0)
    view = view.sort_values(["_bad", "_r", "_m", "_s", "id"],
                            ascending=[False, True, True, True, True])
    columns = ["id", "user_id", "scenario", "question", "problems", "recall_at_5", "mrr",
               "semantic_similarity", "top_score", "no_context", "reference_note_ids",
               "retrieved_note_ids", "retrieved_titles", "answer"]
    out = view.head(n)[columns].reset_index(drop=True)
    out["answer"] = out["answer"].str.slice(0, 160)
    return out
