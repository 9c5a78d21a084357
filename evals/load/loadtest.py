"""The Locust load test and the chaos run that ``notebooks/04_load_test.ipynb`` and
``notebooks/05_chaos.ipynb`` show.

``run_load(LoadConfig(...))`` starts everything on loopback (``evals.load.stack``), runs
headless Locust (``loadtests/locustfile.py``) for a bounded time, optionally starts an outage of
the mock in the middle while it samples the breaker state from ``/readyz``, and always tears the
processes down. What the run measured is computed by the pure functions of
``evals.load.metrics``; their names stay importable from here, as the notebooks use them.

With ``locust_workers`` = N > 0, Locust runs distributed: one master (``--master
--expect-workers N``: it spreads the users, runs the load shape and writes the aggregated CSVs)
and N ``--worker`` processes; each worker writes its own per-request events file. Either way the
CPU time of the load generator and of the app is sampled during the run (``evals.load.cpu``)
and reported with the summary: how many cores Locust took from the app.
"""

from __future__ import annotations

import ipaddress
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from evals.load import limits, lying
from evals.load.cpu import CpuSampler, Timeline
from evals.load.metrics import (
    AGGREGATED,
    PERCENTILES,
    SETTLE_S,
    SLOW_MS,
    after_warmup,
    breaker_timeline,
    chaos_summary,
    history_timeline,
    outcome_rates,
    outcome_table,
    read_events,
    read_failures,
    read_history,
    read_stats,
    summarise_load,
)
from evals.load.soak import ResourceSampler
from evals.load.stack import (
    LoadConfig,
    Sampler,
    Stack,
    breaker_state,
    llm_requests,
    prepare_state,
    running_stack,
    second_provider,
    shed_counts,
    spawn,
    stop,
)
from evals.load.sweep import Knee, find_knee, stream_summary, sweep_steps
from evals.paths import REPO_ROOT
from rag_core.procs import free_port

__all__ = ["AGGREGATED", "LOCUSTFILE", "PERCENTILES", "SETTLE_S", "SLOW_MS",
           "LoadConfig", "LoadRun", "breaker_state", "breaker_timeline", "chaos_summary",
           "history_timeline", "llm_requests", "locust_command", "offered_rps", "outcome_rates",
           "outcome_table", "params_of", "prepare_state", "read_events", "read_failures",
           "read_history", "read_stats", "run_load", "run_loads", "running_stack",
           "summarise_load", "sweep_config", "worker_command"]

LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"
WORKERS_MAX_WAIT_S = 120  # the master gives up when the workers have not all connected by then
WORKERS_QUIT_S = 5.0  # after the master's exit, then a worker still running is stopped


@dataclass
class LoadRun:
    config: LoadConfig
    prefix: Path
    stats: pd.DataFrame
    history: pd.DataFrame
    failures: pd.DataFrame
    events: pd.DataFrame
    breaker: pd.DataFrame
    outage: tuple[float, float] | None
    locust_returncode: int | None
    mock_stats: dict[str, object]
    seconds: float
    cpu: dict[str, object] = field(default_factory=dict)  # CpuSampler.summary()
    # per-request event lines written by each Locust process (pid -> lines)
    events_by_process: dict[int, int] = field(default_factory=dict)
    warm_up: dict[str, float] = field(default_factory=dict)  # stack.warm_up, before this run
    # the servers' resources sampled during the run (config.resource_sample_s; evals.load.soak)
    resources: pd.DataFrame = field(default_factory=pd.DataFrame)
    # with config.lying_usage: what the lying provider left in the ledger (evals.load.lying)
    lying: dict[str, float | int] = field(default_factory=dict)
    cpu_timeline: Timeline = field(default_factory=list)  # CpuSampler.timeline
    shed_by_reason: dict[str, float] = field(default_factory=dict)  # requests_shed_total

    def summary(self) -> dict[str, object]:
        return {**summarise_load(self.stats, self.events, self.config.mock_latency_ms,
                                 offered_rps(self.config), warmup_s=self.config.warmup_s or None,
                                 duration_s=self.config.duration_s, users=self.config.users),
                "locust_workers": self.config.locust_workers, **self.cpu, **self.warm_up,
                **limits.stated(self.config.extra_env)}

    def chaos(self) -> dict[str, float | None]:
        if self.outage is None:
            raise ValueError("this run had no outage (chaos=False)")
        return chaos_summary(self.events, self.breaker, *self.outage,
                             reset_timeout_s=self.config.breaker_reset_timeout_s,
                             llm_fallback=self.config.llm_fallback,
                             second=second_provider(self.config))

    def timeline(self) -> pd.DataFrame:
        return history_timeline(self.history)

    def streaming(self) -> dict[str, object]:
        """TTFT, inter-token latency and tokens/s of the streamed answers after the warm-up."""
        return stream_summary(after_warmup(self.events, self.config.warmup_s))

    def sweep(self) -> tuple[pd.DataFrame, Knee]:
        """A ``steps`` run per step (after each step's warm-up) and its knee."""
        if self.config.shape != "steps":
            raise ValueError("this run was not a concurrency sweep (shape='steps')")
        steps = sweep_steps(self.events, self.config.steps, self.config.step_s,
                            self.config.warmup_s)
        return steps, find_knee(steps["users"], steps["rps"], steps["p50_ms"], steps["p99_ms"])

    @property
    def origin(self) -> float:
        """Epoch second of Locust's first history row (the plots' zero)."""
        if not self.history.empty:
            return float(self.history["Timestamp"].min())
        return float(self.events["t"].min()) if len(self.events) else 0.0

    def relative_outage(self) -> tuple[float, float] | None:
        if self.outage is None:
            return None
        return self.outage[0] - self.origin, self.outage[1] - self.origin

    def chaos_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Outcome rates and breaker samples on the plots' time axis (seconds from origin)."""
        rates = outcome_rates(self.events, start=self.origin)
        return rates, self.breaker.assign(t=self.breaker["t"] - self.origin)


def sweep_config(config: LoadConfig, steps: Sequence[int], step_s: float, *,
                 tokens_per_s: float, wait_s: tuple[float, float] | None = None,
                 label: str = "sweep") -> LoadConfig:
    """The concurrency sweep beside a load run (same stack, see ``run_loads``): streaming
    users (``mix="stream"``) in the ``steps`` shape, the mock streaming ``tokens_per_s``."""
    if not steps:
        raise ValueError("a sweep needs at least one step")
    peak = max(int(u) for u in steps)
    return replace(config, users=peak, spawn_rate=float(peak), mix="stream", shape="steps",
                   steps=tuple(int(u) for u in steps), step_s=float(step_s),
                   duration_s=math.ceil(len(steps) * step_s) + 1, chaos=False,
                   mock_tokens_per_s=float(tokens_per_s),
                   wait_s=tuple(wait_s) if wait_s is not None else config.wait_s,  # type: ignore[arg-type]
                   label=label)


def offered_rps(config: LoadConfig) -> float:
    """Requests per second the users would send if every answer came at once: users over their
    mean think time (the ceiling of a closed-loop run)."""
    return config.users / max(1e-9, (config.wait_s[0] + config.wait_s[1]) / 2)


def _locust() -> str:
    return str(Path(sys.executable).with_name("locust"))


def locust_command(config: LoadConfig, host: str, prefix: Path,
                   master_port: int | None = None) -> list[str]:
    """The headless run (the master of a distributed one when ``config.locust_workers``)."""
    cmd = [_locust(), "-f", str(LOCUSTFILE), "--headless", "-u", str(config.users),
           "-r", str(config.spawn_rate), "-t", f"{int(config.duration_s)}s", "--host", host,
           "--csv", str(prefix), "--csv-full-history", "--only-summary",
           "--stop-timeout", str(max(5, math.ceil(config.mock_latency_ms / 1000) + 3)),
           "--loglevel", "WARNING"]
    if config.locust_workers:
        if master_port is None:
            raise ValueError("a distributed run needs the master's port")
        cmd += ["--master", "--master-bind-host", "127.0.0.1",
                "--master-bind-port", str(master_port),
                "--expect-workers", str(config.locust_workers),
                "--expect-workers-max-wait", str(WORKERS_MAX_WAIT_S)]
    return cmd


def worker_command(master_port: int) -> list[str]:
    return [_locust(), "-f", str(LOCUSTFILE), "--worker", "--master-host", "127.0.0.1",
            "--master-port", str(master_port), "--loglevel", "WARNING"]


def run_load(config: LoadConfig) -> LoadRun:
    """One bounded Locust run against a fresh app + mock (and an outage if ``chaos``)."""
    return run_loads([config])[0]


def run_loads(configs: Sequence[LoadConfig],
              then: Callable[[Stack], object] | None = None) -> list[LoadRun]:
    """Locust runs one after the other against one stack (started for the first config: its
    workers, state and app settings hold for all). Before each run the mock's latency and
    streaming pace are set to that config's and its counters reset, so ``mock_stats`` is the
    run's own; the answer caches stay as the runs before left them. ``then``: called with the
    stack after the runs, before it is torn down (a replay, ``evals.load.replay_load``)."""
    from rag_core.devservers.mock_server import configure_mock, reset_mock

    if not configs:
        return []
    first = configs[0]
    out = _output_dir(first)
    started = time.perf_counter()
    runs: list[LoadRun] = []
    with running_stack(first, out) as stack:
        for config in configs:
            configure_mock(stack["mock_url"], latency_ms=config.mock_latency_ms,
                           latency_jitter_ms=config.mock_jitter_ms,
                           tokens_per_s=config.mock_tokens_per_s)
            reset_mock(stack["mock_url"])
            runs.append(_locust_run(config, stack, _output_dir(config), started))
            if len(runs) == 1:  # the stack was warmed before the first run only
                runs[0].warm_up = dict(stack["warm_up"])
            started = time.perf_counter()
        if then is not None:
            then(stack)
    return runs


def _output_dir(config: LoadConfig) -> Path:
    out = Path(config.output_dir) if config.output_dir else REPO_ROOT / "reports" / "dev" / \
        config.label
    out.mkdir(parents=True, exist_ok=True)
    return out


def quick_resolver(url: str) -> dict[str, str]:
    """gevent's blocking resolver for a load generator whose target is an IP address.

    gevent's default resolver hands every lookup, an IP address's too, to a pool of threads,
    and a greenlet waits for the answer without the loop being late, so the wait shows in no
    lag. In a spike's onset, 160 new users opening their connections at once to 127.0.0.1
    waited up to 73 ms between their request's start and its arrival at the service's kernel,
    68 ms at p90; with the blocking resolver, which answers an address at once, 61 and 24 ms
    (docs/benchmarks.md, "Where the onset's time went"). A host name keeps the default: a
    blocking lookup of a name would stop every user while the DNS answers."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return {}
    return {"GEVENT_RESOLVER": "block"}


def locust_env(config: LoadConfig, stack: Stack, events_base: Path) -> dict[str, str]:
    """The ``RAG_LOAD_*`` variables of the locustfile for ``config`` (and the quick resolver
    for an IP address's app, unless the environment names one)."""
    env = {**quick_resolver(str(stack.get("app_url", ""))), **stack["env"],
           "RAG_LOAD_MIX": config.mix, "RAG_LOAD_SHAPE": config.shape,
           "RAG_LOAD_WAIT": ",".join(str(float(w)) for w in config.wait_s),
           "RAG_LOAD_USERS": ",".join(config.golden_users),
           "RAG_LOAD_TOKENS": str(stack["tokens"]), "RAG_LOAD_EVENTS": str(events_base),
           "RAG_LOAD_SEED": str(config.seed)}
    if stack.get("qa_file"):
        env["RAG_LOAD_QA"] = str(stack["qa_file"])
    if config.novel_pool > 0:
        env["RAG_LOAD_NOVEL_POOL"] = str(int(config.novel_pool))
    if config.stop_after_requests > 0:
        env["RAG_LOAD_STOP_AFTER"] = str(int(config.stop_after_requests))
    if config.shape == "steps":
        env["RAG_LOAD_STEPS"] = ",".join(str(int(u)) for u in config.steps)
        env["RAG_LOAD_STEP_S"] = str(float(config.step_s))
    return env


def _locust_run(config: LoadConfig, stack: Stack, out: Path,
                started: float) -> LoadRun:
    from rag_core.devservers.mock_server import mock_stats, start_outage

    prefix = out / config.label
    for old in out.glob(f"{config.label}_*.csv"):
        old.unlink()
    events_base = out / f"{config.label}_events"
    for old in out.glob(f"{events_base.name}.*.jsonl"):
        old.unlink()
    outage: tuple[float, float] | None = None
    env = locust_env(config, stack, events_base)
    sampler = Sampler(stack["app_url"], stack["mock_url"], metrics_token=stack["metrics_token"])
    sampler.start()
    log = out / f"{config.label}_locust.log"
    port = free_port() if config.locust_workers else None
    proc = spawn(locust_command(config, stack["app_url"], prefix, port), env, log)
    workers = [spawn(worker_command(port), env, out / f"{config.label}_locust_w{i}.log")
               for i in range(config.locust_workers) if port is not None]
    cpu = CpuSampler({"loadgen": [proc.pid, *(w.pid for w in workers)],
                      "app": [stack["app_pid"]]})
    cpu.start()
    resources = (ResourceSampler(stack["app_pid"], stack["mock_pid"], stack["env"],
                                 config.resource_sample_s)
                 if config.resource_sample_s > 0 else None)
    if resources is not None:
        resources.start()
    code: int | None = None
    mocks = [(stack["mock_url"], lying.first_prices(stack["env"]))]
    if stack["second_url"]:
        mocks.append((stack["second_url"], lying.Prices(*config.second_prices)))
    before = (lying.start_lying(config.lying_usage, [url for url, _ in mocks], stack["env"])
              if config.lying_usage else None)
    try:
        if config.chaos:
            time.sleep(config.outage_start_s)
            t0 = time.time()
            start_outage(stack["mock_url"], config.outage_s)
            outage = (t0, t0 + config.outage_s)
        code = proc.wait(timeout=config.duration_s + 90)
    finally:
        cpu.stop()
        if resources is not None:
            resources.done.set()
            resources.join(timeout=30)
        stop(proc)
        # the workers' users stopped before the master quit (loadtests/locustfile.py): a worker
        # has nothing left to do. Most quit on the master's "quit" message; one that missed it
        # would wait a minute for the master's heartbeat, so it gets SIGTERM instead (Locust
        # then ends the run as on a quit, closing its events file).
        deadline = time.monotonic() + WORKERS_QUIT_S
        for worker in workers:
            try:
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                stop(worker)
        sampler.finish()  # one more breaker sample, after the last request
    mocked = mock_stats(stack["mock_url"])
    shed = shed_counts(stack["app_url"], stack["metrics_token"])
    event_files = sorted(out.glob(f"{events_base.name}.*.jsonl"))
    events = read_events(event_files)
    lied = (lying.end_lying(before, mocks, stack["env"], events) if before is not None
            else {})
    by_process = {int(f.name.split(".")[-2]): _lines(f) for f in event_files}
    stats = read_stats(prefix)
    if stats.empty:
        raise RuntimeError(f"Locust wrote no statistics; see {log}:\n{log.read_text()[-2000:]}")
    breaker = breaker_timeline(sampler.samples)
    breaker.to_csv(out / f"{config.label}_breaker.csv", index=False)
    return LoadRun(config, prefix, stats, read_history(prefix), read_failures(prefix), events,
                   breaker, outage, code, mocked,
                   round(time.perf_counter() - started, 1), cpu.summary(), by_process,
                   resources=resources.frame() if resources is not None else pd.DataFrame(),
                   lying=lied, cpu_timeline=cpu.timeline, shed_by_reason=shed)


def _lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def params_of(config: LoadConfig) -> dict[str, object]:
    """The config as plain values for ``record(..., params=...)``."""
    return {k: v for k, v in asdict(config).items() if k != "extra_env"}
