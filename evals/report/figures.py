"""The plots of a report: copied beside ``summary.md`` (``reports/<folder>/plots/``), each with
a caption that says what is drawn and how to read it.

A notebook saves its PNGs in its own output folder of the run (``runs/<id>/<notebook>/``); the
report folder is what people open, so the plots it shows sit beside it. A plot without a caption
here gets a plain one naming its notebook, so that none is shown bare.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from evals.report.record import NotebookOutcome

PLOTS_DIR = "plots"
CAPTIONS: dict[str, str] = {
    "quality_sweep": "Answer and retrieval metrics against the context budget (x), one line per "
                     "top_k; the shaded band around a line is its 95 % bootstrap interval over "
                     "the questions of the sweep sample (in the legend); the ringed point is "
                     "the run's own top_k and budget; lines whose bands overlap differ within "
                     "the noise.",
    "no_context_threshold": "Best retrieval similarity per question, answerable against "
                            "no-context questions; the vertical line is the similarity "
                            "threshold below which the service answers 'no relevant notes'.",
    "retrieval_modes": "recall@5, MRR and nDCG@10 of dense, lexical and hybrid retrieval on the "
                       "same questions, per scenario and overall; bars start at 0 and carry "
                       "their value, which is where differences of a few points are read.",
    "retrieval_pareto": "Recall@5 against p50 query latency of each (m, ef_construction) build "
                        "as ef_search grows along its line (small labels, in the line's colour; "
                        "a label with no free place is left out); up and left is better. "
                        "Latency is machine-dependent and not gated.",
    "retrieval_recall_vs_ef": "Recall@5 and recall@10 against exact neighbours as ef_search "
                              "grows, one line per HNSW build; the vertical line is the "
                              "ef_search this run recommends (smallest reaching recall@5 0.98, "
                              "written to recommended_settings.env), not the Settings default.",
    "retrieval_pgvector_vs_hnswlib": "The same ef_search sweep on pgvector and on hnswlib in "
                                     "process: what the database adds per query.",
    "cache_over_time": "Hit rate of the query (L1) and semantic caches per time bucket of the "
                       "replayed log; the first buckets start cold.",
    "cache_costs": "Projected monthly LLM cost at each user scale, without and with the caches "
                   "at the measured hit rate and the log's request rate.",
    "cache_sweeps": "Hit rate against the query TTL (left) and the semantic threshold (right; "
                    "with recall and false hits on the labelled pairs); the marked point is "
                    "the run's own setting.",
    "load_timeline": "Requests per second, latency percentiles and errors over the load test; "
                     "the grey band is the warm-up (the app's and Locust's start and the "
                     "users' spawn, until the first answer and at least the configured "
                     "warm-up), left out of the gated figures.",
    "load_sweep": "Streaming users' throughput and time to first token per concurrency step; "
                  "the knee is where more users stop adding throughput.",
    "spike_timeline": "The spike run: requests per second, latency and errors while users jump "
                      "to the spike's peak; grey: the start, before the first answer.",
    "chaos_timeline": "Requests per second and outcomes through the LLM outage (shaded): stale "
                      "answers and documented 503s while the breaker is open.",
    "chaos_breaker": "The breaker's state and the share of stale, refused and failed answers "
                     "over the outage; recovery is the time from the outage's end to closed.",
}


def caption(png: str | Path, notebook: str) -> str:
    stem = Path(png).stem
    return CAPTIONS.get(stem, f"{stem.replace('_', ' ')} (notebook {notebook}).")


def plot_files(outcomes: Iterable[NotebookOutcome]) -> list[tuple[str, Path]]:
    return [(o.name, Path(a)) for o in outcomes for a in o.artifacts if a.endswith(".png")]


def copy_beside(outcomes: Sequence[NotebookOutcome], folder: Path) -> list[Path]:
    """Copy every PNG of ``outcomes`` into ``folder/plots/`` (existing ones of notebooks not
    run are kept: an ``--only`` run merges) and return the copies."""
    target = folder / PLOTS_DIR
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for _, png in plot_files(outcomes):
        if png.is_file() and png.parent.resolve() != target.resolve():
            dest = target / png.name
            shutil.copyfile(png, dest)
            out.append(dest)
    return out


def shown_path(png: str | Path, out_dir: Path) -> Path:
    """Where summary.md in ``out_dir`` shows a plot: its copy beside it when there is one."""
    copy = out_dir / PLOTS_DIR / Path(png).name
    return copy if copy.is_file() else Path(png)
