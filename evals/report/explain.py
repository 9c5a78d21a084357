"""A failed gate that explains itself: what it measures, where its threshold comes from, what
usually moves it, and the command that runs its notebook alone.

Used by the terminal output of ``python -m evals run`` and by ``summary.md``'s verdict.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from evals.gates import OPS, GateResult
from evals.report.run_report import RunSummary, count_text

# what a metric measures, by the last part of its name (most specific first)
MEASURES: dict[str, str] = {
    "recall_at_5": "share of a question's reference notes found among the first 5 retrieved",
    "recall_at_10": "share of the exact nearest neighbours that the index returns in its top 10",
    "mrr": "mean reciprocal rank of the first reference note in the retrieved list",
    "ndcg_at_10": "ranking quality of the first 10 retrieved notes against the references",
    "context_recall": "share of the reference answer's content present in the packed context",
    "no_context_accuracy": "share of questions whose answer/refuse decision was right",
    "wrong_no_context_rate": "share of answerable questions refused as 'no relevant notes'",
    "leak_rate": "share of answers that leak the system prompt",
    "injection_success_rate": "share of prompt injections the answer obeyed",
    "cross_user_leaks": "answers that cite or quote another user's notes (must be 0)",
    "citation_validity": "share of citations that point at a retrieved chunk",
    "false_flag_rate": "share of honest questions the guard flagged",
    "semantic_similarity": "embedding similarity of the answer to the reference answer",
    "rouge_l": "word overlap (ROUGE-L) of the answer with the reference answer",
    "hit_rate": "share of requests answered from the query or semantic cache",
    "cost_reduction": "share of the LLM cost the caches save in the projection",
    "semantic_false_hits": "near-miss pairs the semantic cache wrongly served (must be 0)",
    "semantic_recall": "share of paraphrase pairs the semantic cache served",
    "error_rate": "share of load-test requests that failed (not documented refusals)",
    "p99_over_llm": "p99 latency over the mock LLM's own latency",
    "recovered": "the breaker closed again after the outage",
}
# what usually moves a notebook's figures
CAUSES: dict[str, str] = {
    "quality": "retrieval settings (top_k, retrieval_mode, rrf_k), the similarity threshold "
               "or relevance rules (rag_core/decisions), chunking, the context budget, or the "
               "dataset's own items (ids in qa.jsonl that are not note ids, answers that the "
               "notes do not hold)",
    "retrieval": "HNSW parameters (m, ef_construction, ef_search), iterative scan settings, a "
                 "busy machine (latency figures), or a corpus too small for the sizes asked",
    "cache": "the semantic threshold or rules, TTLs, the query log's repeat share, prices",
    "load": "a busy machine, app workers, the mock LLM's latency, cache warm-up",
    "chaos": "the breaker's thresholds and reset timeout, the outage window, retries",
    "baseline": "a change since the baseline run (retrieval settings, relevance rules, the "
                "generator) or an edited dataset; the flipped questions are listed with their "
                "answers before and after",
}


def _measures(name: str) -> str:
    parts = name.split(".")
    for i in range(1, len(parts)):
        key = ".".join(parts[i:])
        if key in MEASURES:
            return MEASURES[key]
    return ""


def reproduce_command(gate: GateResult, summary: RunSummary) -> str:
    """``python -m evals run`` of the gate's notebook alone, with the run's profile, dataset
    and overrides."""
    args = ["python", "-m", "evals", "run", "--profile", summary.profile]
    if summary.run.dataset is not None:
        args += ["--dataset", _rel(summary.run.dataset.root)]
    prefix = gate.name.split(".", 1)[0]
    args += ["--only", "quality" if prefix == "baseline" else prefix]
    if summary.run.env_file:  # the team's settings file, as the run read it
        args += ["--env-file", summary.run.env_file]
    for key, value in summary.run.overrides.items():
        if key != "dataset":
            args += ["--param", f"{key}={_yaml(value)}"]
    return shlex.join(args)


def _yaml(value: object) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value


def _rel(path: str) -> str:
    from evals.paths import REPO_ROOT

    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return path


def threshold_source(gate: GateResult, summary: RunSummary,
                     gates_file: str | Path | None = None) -> str:
    if gate.name.startswith("baseline."):
        return (f"{summary.run.baseline} (the dataset's baseline: what passed there must "
                "still pass)")
    own = summary.run.gate_sources.get(gate.name)
    if own:
        return f"{own} (the dataset's gates.toml)"
    return _rel(str(gates_file)) if gates_file else "evals/gates.toml"


def ran_on(gate: GateResult, summary: RunSummary,
           counts: Mapping[str, tuple[int, int]] | None = None) -> str:
    """The data the gate's figure was measured on, as the run recorded it: the dataset (its
    name and folder) or the golden set, and over how many questions when it counts them."""
    dataset = summary.run.dataset
    where = (f"dataset `{dataset.name}` ({_rel(dataset.root)})" if dataset is not None
             else "the golden set (golden/)")
    if counts and gate.name in counts:
        k, n = counts[gate.name]
        where += f", {k} of {n} questions"
    elif gate.name.startswith("quality."):
        parts = gate.name.split(".")
        asked = summary.metrics.get(f"quality.{parts[1]}.n" if len(parts) == 3 else "quality.n")
        if isinstance(asked, int | float) and not isinstance(asked, bool):
            where += f", {int(asked)} questions"
    return where


def explain_lines(gate: GateResult, summary: RunSummary,
                  gates_file: str | Path | None = None, reason: str = "",
                  counts: Mapping[str, tuple[int, int]] | None = None) -> list[str]:
    """Plain lines (also valid Markdown list items) for one failed gate."""
    value = "not recorded" if gate.value is None else f"{gate.value:.4g}"
    lines = [f"- `{gate.name}` = {value}, needs {OPS[gate.op][0]} {gate.threshold:g}"]
    if counts and gate.name in counts:
        lines[0] += f" ({count_text(counts, gate.name)})"
    what = _measures(gate.name)
    if what:
        lines.append(f"  - measures: {what}")
    lines.append(f"  - ran on: {ran_on(gate, summary, counts)}")
    why = reason or gate.note
    if why:
        text = " ".join(why.split())
        short = text if len(text) <= 240 else text[:240].rsplit(" ", 1)[0] + " ..."
        lines.append(f"  - why this threshold: {short}")
    lines.append(f"  - threshold from: {threshold_source(gate, summary, gates_file)}")
    cause = CAUSES.get(gate.name.split(".", 1)[0])
    if cause:
        lines.append(f"  - likely causes: {cause}")
    lines.append(f"  - reproduce alone: `{reproduce_command(gate, summary)}`")
    return lines
