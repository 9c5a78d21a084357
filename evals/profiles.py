"""Profiles: which notebooks a run executes, and with which parameters.

Adding a notebook is one ``NotebookSpec`` entry: its results prefix (the ``name`` that its
``record(...)`` call uses, and the first part of its metric names), its path, and the
parameters per profile. A notebook runs in the profiles that its ``params`` name. The runner
adds ``output_dir``; ``--param NAME=VALUE`` overrides a parameter of every selected notebook
that declares it. ``tests/evals/test_profiles.py`` checks every parameter against the
notebook's ``parameters`` cell with ``papermill.inspect_notebook``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from evals.jsonish import mapping
from evals.paths import REPO_ROOT

PROFILES = ("ci", "full", "dev", "tune", "smoke", "soak")
# Profiles without parameters of their own: ``dev`` runs the ci values into ``reports/dev/`` (an
# experiment never overwrites ``reports/ci/``); ``tune`` is dev without the parts that no
# Settings knob changes (the generators side by side, the public BEIR sets, the extra HNSW
# pairs, the load test's concurrency sweep), into ``reports/tune/``; ``smoke`` is tune at the
# shortest runs that still execute every cell (what ``python -m evals nbval`` runs: the nbval
# reference outputs do not depend on these sizes; the measurements belong to ``make harness``).
# ``soak`` runs the load notebook alone: 40 minutes of steady load that the machine holds, with
# each server's memory, Redis's used_memory, PostgreSQL's connections and the p99 recorded per
# minute (``soak_sample_s``), gated on their slopes (evals/gates.toml, docs/benchmarks.md).
BASE_PROFILE = {"dev": "ci", "tune": "ci", "smoke": "ci"}
TUNE_SKIPS: Mapping[str, Mapping[str, object]] = {
    "quality": {"compare_generators": []},
    "retrieval": {"public_sets": [], "hnsw_params": [[16, 64]], "scale_sizes": [],
                  "chunking_public_sets": []},
    "load": {"sweep_users": []},
}
# Notebooks that measure something other than a dataset's notes (02: the HNSW benchmark's
# synthetic corpus, made from the notes' sentences, and the public BEIR collections): a run on
# one's own data (``--dataset``) leaves them out unless ``--only`` names them.
OWN_DATA_ON_REQUEST = ("retrieval",)
SMOKE_SIZES: Mapping[str, Mapping[str, object]] = {
    "quality": {"sample": 60, "blind_sets": False, "route_sample": 30, "route_sweep": [1000]},
    "cache": {"blind_sets": False},
    "load": {"duration_s": 10, "warm_up_requests": 5, "replay_speed": 120.0,
             "cold_start": False},
    "retrieval": {"chunking_values": ["window"]},
}


@dataclass(frozen=True)
class NotebookSpec:
    name: str
    path: str
    params: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    description: str = ""
    # notebook parameters that stand for a Settings field (parameter -> field): setting both
    # the parameter and settings.<field> is a usage error (evals/knobs.py)
    settings_params: Mapping[str, str] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return REPO_ROOT / self.path

    @property
    def stem(self) -> str:
        return Path(self.path).stem

    def in_profile(self, profile: str) -> bool:
        return BASE_PROFILE.get(profile, profile) in self.params

    def profile_params(self, profile: str) -> dict[str, object]:
        """The parameters of ``profile`` (``dev``, ``tune`` and ``smoke``: the ci values,
        ``tune`` and ``smoke`` with :data:`TUNE_SKIPS`, ``smoke`` with :data:`SMOKE_SIZES`)."""
        params = dict(self.params[BASE_PROFILE.get(profile, profile)])
        if profile in ("tune", "smoke"):
            params.update(TUNE_SKIPS.get(self.name, {}))
        if profile == "smoke":
            params.update(SMOKE_SIZES.get(self.name, {}))
        return params


NOTEBOOKS: tuple[NotebookSpec, ...] = (
    NotebookSpec(
        name="quality",
        path="notebooks/01_quality_eval.ipynb",
        description="answer and retrieval quality on the golden QA set, guard behaviour",
        settings_params={"top_k": "top_k", "context_budget": "context_token_budget",
                         "similarity_threshold": "similarity_threshold",
                         "retrieval_mode": "retrieval_mode", "state_dir": "state_dir"},
        params={
            "ci": {
                "sample": 0,
                "top_k": 5,
                "context_budget": 1200,
                "sweep_top_k": [1, 3, 5, 8],
                "sweep_context_budget": [300, 1200],
                "sweep_sample": 60,
                # the local model's comparison (4-5 minutes on two cores, gated only in full)
                # runs in `make harness-model` and the full profile, not in CI
                "compare_generators": ["extractive", "obey"],
                "compare_sample": 6,
                "compare_max_tokens": 48,
                "seed": 7,
                "blind_sets": True,
                # model routing off and on, and its context rule swept (evals/quality/routing.py)
                "route_sample": 0,
                "route_sweep": [600, 800, 1000, 1100, 1200],
            },
            "full": {
                "sample": 0,
                "top_k": 5,
                "context_budget": 1200,
                "sweep_top_k": [1, 2, 3, 5, 8, 10],
                "sweep_context_budget": [200, 400, 800, 1200, 2000],
                "sweep_sample": 0,
                "compare_generators": ["extractive", "local", "obey"],
                "compare_sample": 0,
                "compare_max_tokens": 160,
                "seed": 7,
                "blind_sets": True,
            },
        },
    ),
    NotebookSpec(
        name="retrieval",
        path="notebooks/02_retrieval_benchmark.ipynb",
        description="pgvector HNSW recall and latency, ef_search sweep, filtered and hybrid search",
        params={
            "ci": {
                "corpus_size": 4000,
                "n_queries": 400,
                "ef_search_values": [10, 20, 40, 80, 160],
                "hnsw_params": [[16, 64], [8, 32], [32, 128]],
                # IVFFlat beside HNSW on the same table: lists about rows/1000 is pgvector's
                # advice up to 1M rows, too few at 4,000; 16 and 64 (= sqrt(rows)) instead
                "ivf_lists": [16, 64],
                "ivf_probes": [1, 2, 4, 8, 16, 32],
                "users": 20,
                "seed": 7,
                "hybrid_chunks": 2000,
                "scale_sizes": [],
                # the shared public sets (data/beir/ or shared/beir/ beside the checkout;
                # absent: skipped, their gates skip): 3,893 documents, 331 queries
                "public_sets": ["medline", "cisi", "cranfield"],
                # RAG_CHUNKING on the golden notes and one public set (1,460 documents)
                "chunking_values": ["heading", "sentences", "window"],
                "chunking_public_sets": ["cisi"],
            },
            "full": {
                "corpus_size": 100000,
                "n_queries": 1000,
                "ef_search_values": [10, 20, 40, 80, 120, 160, 200, 320],
                # ef_construction 400: at 100k chunks it reaches recall@5 0.98 at ef_search
                # 80-120 (p99 2-3 ms), 200 at 160-200 and 64 tops out at 0.95
                # (benchmarks/README.md); the three side by side
                "hnsw_params": [[16, 400], [16, 200], [16, 64]],
                # rows/1000 (pgvector's advice up to 1M rows) and sqrt(rows)
                "ivf_lists": [100, 316],
                "ivf_probes": [1, 2, 4, 8, 16, 32],
                "users": 200,
                "seed": 7,
                "hybrid_chunks": 10000,
                "scale_sizes": [10000],
                "public_sets": ["medline", "cisi", "cranfield", "npl", "nfcorpus", "fiqa",
                                "arguana", "scidocs", "trec-covid"],
                # every embedding runtime against torch on the four shared sets (gated)
                "runtime_sets": ["medline", "cisi", "cranfield", "npl"],
                "chunking_values": ["heading", "sentences", "window"],
                "chunking_public_sets": ["medline", "cisi", "cranfield", "npl"],
            },
        },
    ),
    NotebookSpec(
        name="cache",
        path="notebooks/03_cache_cost_projection.ipynb",
        description="a synthetic query log replayed through the real caches: hit rate per "
                    "layer, TTL and threshold sweeps, monthly LLM cost with and without caches",
        settings_params={"query_ttl_s": "query_cache_ttl_s",
                         "semantic_threshold": "semantic_cache_threshold",
                         "state_dir": "state_dir"},
        params={
            "ci": {"users": 8, "days": 2, "requests_per_user_per_day": 10, "zipf_s": 1.1,
                   "paraphrase_share": 0.15, "novel_share": 0.15, "edit_rate": 0.2,
                   "query_ttl_s": 86400, "semantic_threshold": 0.6,
                   "ttl_sweep": [3600, 86400], "threshold_sweep": [0.45, 0.6, 0.7],
                   "sweep_users": 4, "time_bucket_h": 6, "seed": 7, "blind_sets": True},
            "full": {"users": 100, "days": 7, "requests_per_user_per_day": 10, "zipf_s": 1.1,
                     "paraphrase_share": 0.15, "novel_share": 0.15, "edit_rate": 0.2,
                     "query_ttl_s": 86400, "semantic_threshold": 0.6,
                     "ttl_sweep": [3600, 21600, 86400, 604800],
                     "threshold_sweep": [0.35, 0.45, 0.6, 0.7, 0.85],
                     "sweep_users": 12, "time_bucket_h": 24, "seed": 7, "blind_sets": True},
        },
    ),
    NotebookSpec(
        name="load",
        path="notebooks/04_load_test.ipynb",
        description="Locust against the app + mock LLM: RPS, p50/p95/p99 after warm-up, errors, "
                    "cache mix, cost; streaming users' TTFT, inter-token latency, tokens/s and "
                    "the knee of a concurrency sweep",
        settings_params={"breaker_reset_timeout_s": "breaker_reset_timeout_s"},
        params={
            "ci": {"users": 20, "spawn_rate": 10.0, "duration_s": 30, "mix": "mixed",
                   "shape": "sustained", "workers": 2, "locust_workers": 0,
                   "mock_latency_ms": 300.0, "seed": 7, "warmup_s": 3.0,
                   # a stack of its own after the runs below: 40 users, then 200 for the
                   # middle 8 s, then 40 (load.spike_*: shed cleanly past capacity, issue 82)
                   "spike_users": 200, "spike_duration_s": 40,
                   # as many questions at once as users, twice, before the timed run
                   "warm_up_requests": 20,
                   # streaming users on the same app after the main run: 5 x 10 s
                   "sweep_users": [2, 4, 8, 16, 32], "sweep_step_s": 10.0,
                   "sweep_wait_s": [0.2, 0.5], "stream_tokens_per_s": 100.0,
                   # the bundled synthetic log (evals/replay/synthetic.py), 10 minutes at 15x
                   # on the same app after the sweep: about 40 s (load.replay_goodput, gated:
                   # the speed and threshold from five runs' spread, evals/gates.toml)
                   "replay_log": "evals/replay/data/synthetic_log.jsonl",
                   "replay_speed": 15.0, "replay_speeds": [], "replay_cache": "warm",
                   # then a fresh stack, every cache empty, the log once more (cold_start_*)
                   "cold_start": True},
            # 1,000 users: a Locust master and two worker processes (one process is one core)
            "full": {"users": 1000, "spawn_rate": 50.0, "duration_s": 600, "mix": "mixed",
                     "shape": "sustained", "wait_s": [5.0, 10.0], "workers": 2,
                     "locust_workers": 2, "mock_latency_ms": 3500.0,
                     "spike_users": 1500, "spike_duration_s": 120, "seed": 7, "warmup_s": 30.0,
                     "sweep_users": [25, 50, 100, 200, 400, 800], "sweep_step_s": 60.0,
                     "sweep_wait_s": [0.5, 1.5], "stream_tokens_per_s": 50.0,
                     # the log at its own timing, then a sweep of speeds (replay_best_speed)
                     "replay_log": "evals/replay/data/synthetic_log.jsonl",
                     "replay_speed": 1.0, "replay_speeds": [10.0, 30.0, 60.0, 100.0],
                     "replay_cache": "warm", "cold_start": True,
                     # an hour at the sweep's users whose p99 held 4 s (evals/load/hour.py)
                     "hour_s": 3600, "hour_p99_ms": 4000.0},
            # 40 minutes at the ci load (20 users, 300 ms mock), sampled every minute. The
            # novel users ask again from 200 new questions per user (800 in all, about 90 asks
            # a minute) and the cache layers hold 500 entries: the layers fill in the first
            # minutes and keep evicting, the app's memos per question (1,024-4,096 entries
            # each) hold the whole pool once it has been asked, so that the gated second half
            # measures the service at a steady state, where any climb left is a leak
            "soak": {"users": 20, "spawn_rate": 10.0, "duration_s": 2400, "mix": "mixed",
                     "shape": "sustained", "wait_s": [0.5, 1.5], "workers": 2,
                     "locust_workers": 0, "mock_latency_ms": 300.0, "spike_users": 0,
                     "seed": 7, "warmup_s": 60.0, "warm_up_requests": 20, "sweep_users": [],
                     "replay_log": "", "soak_sample_s": 60.0, "novel_pool": 200,
                     "settings": {"cache_max_entries": 500}},
        },
    ),
    NotebookSpec(
        name="chaos",
        path="notebooks/05_chaos.ipynb",
        description="an LLM outage under load: stale/refused share, breaker recovery time",
        settings_params={"breaker_reset_timeout_s": "breaker_reset_timeout_s"},
        params={
            "ci": {"users": 20, "spawn_rate": 10.0, "duration_s": 40, "mix": "mixed",
                   "workers": 2, "locust_workers": 0, "mock_latency_ms": 300.0, "chaos": True,
                   "outage_start_s": 12.0, "outage_s": 10.0,
                   "breaker_reset_timeout_s": 5.0, "seed": 7,
                   # every mock lies about usage (issue 84): the lying-provider gates run
                   "lying_usage": "negative"},
            "full": {"users": 200, "spawn_rate": 20.0, "duration_s": 180, "mix": "mixed",
                     "workers": 2, "locust_workers": 2, "mock_latency_ms": 3500.0,
                     "chaos": True,
                     "outage_start_s": 45.0, "outage_s": 60.0,
                     "breaker_reset_timeout_s": 30.0, "seed": 7},
        },
    ),

)


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")


def find(name: str, notebooks: Iterable[NotebookSpec] = NOTEBOOKS) -> NotebookSpec:
    """A notebook by results name (``quality``), file stem or path."""
    for spec in notebooks:
        if name in (spec.name, spec.stem, spec.path, Path(spec.path).name):
            return spec
    known = ", ".join(s.name for s in notebooks)
    raise ValueError(f"no notebook named {name!r}; known: {known}")


def notebooks_for(profile: str, only: Iterable[str] = (),
                  notebooks: Iterable[NotebookSpec] = NOTEBOOKS) -> list[NotebookSpec]:
    """The notebooks of ``profile`` in order, or just those named in ``only``."""
    check_profile(profile)
    pool = [s for s in notebooks if s.in_profile(profile)]
    wanted = list(only)
    if not wanted:
        return pool
    picked = [find(n, notebooks) for n in wanted]
    outside = [s.name for s in picked if s not in pool]
    if outside:
        raise ValueError(f"not in profile {profile!r}: {', '.join(outside)}")
    return [s for s in pool if s in picked]


def parameters(spec: NotebookSpec, profile: str, output_dir: str | Path,
               overrides: Mapping[str, object] | None = None,
               team: Iterable[str] = ()) -> dict[str, object]:
    """The papermill parameters of one notebook run (``overrides`` already filtered).

    A parameter that stands for a Settings field named in the ``settings`` override is passed
    as ``None``: the field comes from ``settings`` (both given as overrides: the runner's
    usage error). So is one whose field the team set (``team``: the environment,
    ``--env-file``, the dataset's ``settings.env``) when ``--param`` did not name it: a
    profile's value never replaces the team's."""
    given = dict(overrides or {})
    params = {**spec.profile_params(profile), **given}
    chosen = mapping(given.get("settings"))
    users = set(team)
    for param, name in spec.settings_params.items():
        if (name in chosen or name in users) and param not in given:
            params[param] = None
    params["output_dir"] = str(output_dir)
    return params
