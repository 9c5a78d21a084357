"""Calibrate both pre-LLM decisions on a dataset: the work of ``python -m evals calibrate``
(its description: ``evals.decisions.calibrate_args``)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from evals.datasets.loader import DatasetError, EvalDataset
from evals.decisions import semantic_eval
from evals.quality import relevance_eval
from rag_core.config import Settings
from rag_core.decisions.relevance import RelevancePolicy
from rag_core.pipeline import Pipeline

FLOORS = tuple(round(0.025 * i, 3) for i in range(25))  # 0.0 .. 0.6
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(9, 20))  # loose: 0.45 .. 0.95
BATCH = 16  # questions retrieved per step of the progress bar


@dataclass(frozen=True)
class Choice:
    values: dict[str, object]  # the env file's RAG_* names and values
    figures: dict[str, object]  # what the choice measured
    met: bool  # within the limit


@dataclass(frozen=True)
class Calibration:
    relevance: pd.DataFrame  # one row per floor
    semantic: pd.DataFrame  # one row per (mode, threshold)
    floor: Choice
    cache: Choice


def check_labelled(data: EvalDataset) -> None:
    """A coded error unless the dataset has both kinds of question and both kinds of pair."""
    qa = relevance_eval.judged_items(data.qa)
    nc = qa["expect_no_context"].astype(bool)
    if not nc.any() or nc.all():
        raise DatasetError("DATASET_NOT_LABELLED", f"{data.root}: calibration needs answerable "
                           "questions and questions with expect_no_context true in the QA "
                           f"items (has {int((~nc).sum())} and {int(nc.sum())})")
    labels = {str(p["label"]) for p in data.pairs}
    if not {"paraphrase", "near_miss"} <= labels:
        raise DatasetError("DATASET_NOT_LABELLED", f"{data.root}: calibration needs "
                           "semantic_pairs.jsonl with paraphrase and near_miss pairs (has "
                           f"{sorted(labels) or 'none'})")


def collect(pipeline: Pipeline, data: EvalDataset
            ) -> tuple[list[relevance_eval.Retrieved], list[semantic_eval.PairEvidence]]:
    """What each question and each side of each pair retrieves (the notes ingested first)."""
    from evals.datasets import external

    external.ensure_ingested(pipeline, data.root)
    qa = relevance_eval.judged_items(data.qa)
    retrieved: list[relevance_eval.Retrieved] = []
    pairs: list[semantic_eval.PairEvidence] = []
    steps = [("qa", i) for i in range(0, len(qa), BATCH)] + \
            [("pairs", i) for i in range(0, len(data.pairs), BATCH)]
    for kind, start in tqdm(steps, desc="retrieving", unit="batch"):
        if kind == "qa":
            retrieved += relevance_eval.collect(pipeline, qa.iloc[start:start + BATCH])
        else:
            pairs += semantic_eval.collect(pipeline, data.pairs[start:start + BATCH], depth=5)
    return retrieved, pairs


def relevance_curve(rows: Sequence[relevance_eval.Retrieved], settings: Settings,
                    pipeline: Pipeline | None, floors: Sequence[float] = FLOORS) -> pd.DataFrame:
    out = []
    for floor in tqdm(floors, desc="no-context floor", unit="floor"):
        policy = RelevancePolicy.from_settings(settings.with_overrides(
            similarity_threshold=floor))
        values = relevance_eval.score(relevance_eval.decide_all(rows, policy))
        out.append({"floor": floor, "no_context_accuracy": values["no_context_accuracy"],
                    "answerable_refused": values["wrong_refusal_rate"],
                    "no_context_items": values["no_context_items"],
                    "answerable_items": values["answerable_items"]})
    return pd.DataFrame(out)


def semantic_curve(rows: Sequence[semantic_eval.PairEvidence], settings: Settings,
                   pipeline: Pipeline | None,
                   thresholds: Sequence[float] = THRESHOLDS) -> pd.DataFrame:
    from rag_core.cache.semantic import policy_for

    similar = None  # the modes of the service use no near words
    points = [("strict", settings.decisions.semantic_cache_threshold)] + [("loose",
                                                                           t) for t in thresholds]
    out = []
    for mode, threshold in tqdm(points, desc="semantic mode and threshold", unit="point"):
        policy = replace(policy_for(settings, mode), threshold=threshold)
        values = semantic_eval.reuse_figures(semantic_eval.decide_all(rows, policy, similar))
        out.append({"mode": mode, "threshold": threshold, "reuse": values["reuse"],
                    "false_hits": values["false_hits"], "near_misses": values["near_misses"],
                    "paraphrases": values["paraphrases"]})
    return pd.DataFrame(out)


def choose_floor(curve: pd.DataFrame, max_refused: float) -> Choice:
    ok = curve[curve["answerable_refused"] <= max_refused + 1e-9]
    met = not ok.empty
    if met:
        best = ok.sort_values(["no_context_accuracy", "floor"], ascending=[False, True]).iloc[0]
    else:  # none within the limit: the fewest refusals, to show how far it is
        best = curve.sort_values(["answerable_refused", "floor"],
                                 ascending=[True, False]).iloc[0]
    return Choice({"RAG_SIMILARITY_THRESHOLD": float(best["floor"])},
                  {k: best[k] for k in ("no_context_accuracy", "answerable_refused",
                                        "no_context_items", "answerable_items")}, met)


def choose_cache(curve: pd.DataFrame, max_false_hits: int) -> Choice:
    ok = curve[curve["false_hits"] <= max_false_hits]
    met = not ok.empty
    pool = ok if met else curve
    pool = pool.assign(simple=(pool["mode"] == "strict").astype(int))
    keys = ["reuse", "simple", "threshold"] if met else ["false_hits", "simple", "threshold"]
    best = pool.sort_values(keys, ascending=[not met, False, False]).iloc[0]
    values: dict[str, object] = {"RAG_SEMANTIC_MODE": str(best["mode"])}
    if best["mode"] == "loose":
        values["RAG_SEMANTIC_CACHE_THRESHOLD"] = float(best["threshold"])
    return Choice(values, {k: best[k] for k in ("reuse", "false_hits", "near_misses",
                                                 "paraphrases")}, met)


def calibrate(pipeline: Pipeline, data: EvalDataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    check_labelled(data)
    retrieved, pairs = collect(pipeline, data)
    settings = pipeline.parts.settings
    return (relevance_curve(retrieved, settings, pipeline),
            semantic_curve(pairs, settings, pipeline))


def _unsafe(text: str) -> bool:
    return any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in text)


def _quoted(text: str) -> str:
    """``text`` for a line of the env file: shell-quoted, control characters as ``\\xNN``
    (a path refused before this; a comment can then never end early)."""
    import shlex

    return shlex.quote("".join(f"\\x{ord(c):02x}" if _unsafe(c) else c for c in text))


def env_text(result: Calibration, dataset: str, limits: str) -> str:
    """The env file: ``#`` comments and ``NAME=VALUE`` lines, every value safe to source."""
    lines = [f"# python -m evals calibrate --dataset {_quoted(dataset)} {limits}".rstrip(),
             f"# written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; read by nothing unless "
             "the service is pointed at it: set -a; . THIS_FILE; set +a"]
    for name, choice in (("no context", result.floor), ("semantic cache", result.cache)):
        shown = ", ".join(f"{k} {_fmt(v)}" for k, v in choice.figures.items())
        lines.append(f"# {name}: {shown}" + ("" if choice.met else
                                              " -- NOT within the limit, the nearest value"))
        lines += [f"{k}={_quoted(_fmt(v))}" for k, v in choice.values.items()]
    return "\n".join(lines) + "\n"


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value == value else "nan"
    return str(value)


def _markdown(frame: pd.DataFrame) -> str:
    from evals.report.tables import md_table

    return md_table([str(c) for c in frame.columns],
                    [[_fmt(v) for v in row] for row in frame.itertuples(index=False)])


def table_text(result: Calibration) -> str:
    return "\n\n".join([
        "## No-context floor (answerable refused against no-context accuracy)",
        _markdown(result.relevance),
        "## Semantic cache (reuse against false hits; strict ignores the threshold)",
        _markdown(result.semantic)]) + "\n"


def write(result: Calibration, out: Path, dataset: str, limits: str) -> list[Path]:
    from evals.decisions.calibrate_plot import plot_curves

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(env_text(result, dataset, limits), encoding="utf-8")
    table = out.with_suffix(".md")
    table.write_text(table_text(result), encoding="utf-8")
    floor = result.floor.values["RAG_SIMILARITY_THRESHOLD"]
    png = plot_curves(out.with_suffix(".png"), result.relevance, result.semantic,
                      float(floor) if isinstance(floor, int | float) else None,
                      result.cache.values)
    return [out, table, png]


def run(args: argparse.Namespace) -> int:
    from evals import servers
    from evals.datasets.loader import load_dataset, name_of
    from evals.knobs import harness_state_dir
    from evals.paths import REPORTS_DIR
    from evals.quality import evaluate as quality

    if not 0 <= args.max_refused <= 1 or args.max_false_hits < 0:
        raise DatasetError("CALIBRATE_BAD_LIMIT", "--max-refused is a rate in [0, 1] and "
                           "--max-false-hits a count >= 0")
    from evals.datasets.checks import check_dataset

    if _unsafe(str(args.dataset)):
        raise DatasetError("DATASET_BAD_PATH", f"{str(args.dataset)!r}: a control character in "
                           "the dataset's path (it is written into the env file); rename it")
    check_dataset(args.dataset)  # every file, before anything reads one (as a run does)
    data = load_dataset(args.dataset)
    check_labelled(data)
    out = args.out or REPORTS_DIR / name_of(args.dataset) / "calibrated.env"
    dirs = servers.state_dirs(Path(args.state_dir) if args.state_dir else harness_state_dir())
    before = servers.running(dirs)
    try:
        pipeline = quality.build_pipeline(quality.eval_settings(state_dir=args.state_dir))
        relevance, semantic = calibrate(pipeline, data)
    finally:
        servers.stop_started(before, dirs)
    result = Calibration(relevance, semantic, choose_floor(relevance, args.max_refused),
                         choose_cache(semantic, args.max_false_hits))
    limits = f"--max-refused {args.max_refused:g} --max-false-hits {args.max_false_hits}"
    paths = write(result, out, str(args.dataset), limits)
    print(table_text(result))
    print(env_text(result, str(args.dataset), limits))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0 if result.floor.met and result.cache.met else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m evals.decisions.calibrate ARGS``: the same as ``python -m evals calibrate``."""
    from evals.decisions.calibrate_args import HELP, add_arguments

    parser = argparse.ArgumentParser(prog="python -m evals.decisions.calibrate", description=HELP)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except DatasetError as exc:
        print(f"evals: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
