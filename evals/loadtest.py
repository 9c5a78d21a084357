"""The Locust load test and the chaos run that ``notebooks/04_load_test.ipynb`` and
``notebooks/05_chaos.ipynb`` show.

``run_load(LoadConfig(...))`` starts everything on loopback (the embedded PostgreSQL and Redis
of a state dir with the golden notes, the mock LLM, the app with N uvicorn workers talking to
the mock through the ``hf`` generator), runs headless Locust (``loadtests/locustfile.py``) for
a bounded time, optionally starts an outage of the mock in the middle while it samples the
breaker state from ``/readyz``, and always tears the processes down. The first half of the
module is pure: reading Locust's CSVs and the per-request log, and the summary arithmetic
(tested in ``tests/evals/test_loadtest.py`` on small fixtures).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evals.paths import REPO_ROOT, STATE_DIR
from loadtests import traffic
from rag_core.procs import free_port, wait_http

LOAD_STATE_DIR = STATE_DIR / "loadtest"  # its own servers: the load test's spend and cache
LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"
AGGREGATED = "Aggregated"
PERCENTILES = {"p50_ms": "50%", "p95_ms": "95%", "p99_ms": "99%"}
SETTLE_S = 3.0  # after opening: in-flight calls end their retries (see chaos_summary)
SLOW_MS = 1000.0  # a request after the breaker opened that took longer waited on the LLM

# --- reading Locust's output (pure) ----------------------------------------------------------


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    return pd.read_csv(path, na_values=["N/A"])


def read_stats(prefix: str | Path) -> pd.DataFrame:
    """``<prefix>_stats.csv``: one row per request name, plus the ``Aggregated`` row."""
    return _read_csv(Path(f"{prefix}_stats.csv"))


def read_history(prefix: str | Path) -> pd.DataFrame:
    """``<prefix>_stats_history.csv`` with ``t`` (seconds since the first row) added."""
    frame = _read_csv(Path(f"{prefix}_stats_history.csv"))
    if not frame.empty:
        frame["t"] = frame["Timestamp"] - frame["Timestamp"].min()
    return frame


def read_failures(prefix: str | Path) -> pd.DataFrame:
    return _read_csv(Path(f"{prefix}_failures.csv"))


def read_events(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The per-request JSON lines the locustfile wrote (``RAG_LOAD_EVENTS``), sorted by start."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.strip():
                with suppress(ValueError):  # a line cut by a killed process
                    rows.append(json.loads(line))
    columns = ["t", "ms", "kind", "outcome", "status", "failure", "cost_usd", "stale"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("t").reset_index(drop=True)


def outcome_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Per outcome of ``/v1/query``: requests, share, failures and latency percentiles."""
    cols = ["outcome", "requests", "share", "failures", "median_ms", "p95_ms", "p99_ms",
            "max_ms"]
    if stats.empty:
        return pd.DataFrame(columns=cols)
    rows = stats[stats["Name"] != AGGREGATED].copy()
    rows["outcome"] = rows["Name"].map(traffic.outcome_of_name)
    rows = rows[rows["outcome"].notna()]
    total = rows["Request Count"].sum()
    out = pd.DataFrame({
        "outcome": rows["outcome"], "requests": rows["Request Count"],
        "share": rows["Request Count"] / total if total else np.nan,
        "failures": rows["Failure Count"], "median_ms": rows["Median Response Time"],
        "p95_ms": rows["95%"], "p99_ms": rows["99%"], "max_ms": rows["Max Response Time"]})
    return out.sort_values("requests", ascending=False).reset_index(drop=True)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def summarise_load(stats: pd.DataFrame, events: pd.DataFrame | None = None,
                   llm_latency_ms: float | None = None) -> dict[str, Any]:
    """The load metrics: throughput, latency percentiles (all requests, Locust's histogram),
    real error rate (documented 503s are successes of their own name), documented-503 rate,
    cache-hit share of the answers, dollars per 1,000 requests (from the answers' cost) and,
    given the mock LLM's latency, how far p99 sits above it (``p99_over_llm_ms``)."""
    agg = stats[stats["Name"] == AGGREGATED]
    if agg.empty:
        raise ValueError("no Aggregated row: Locust recorded no request")
    row = agg.iloc[0]
    total = float(row["Request Count"])
    per = outcome_table(stats).set_index("outcome")["requests"]
    answered = float(per.reindex(list(traffic.ANSWERED)).fillna(0).sum())
    hits = float(per.reindex(list(traffic.CACHE_HITS)).fillna(0).sum())
    documented = float(per.reindex(list(traffic.DOCUMENTED)).fillna(0).sum())
    out: dict[str, Any] = {
        "requests": int(total),
        "rps": float(row["Requests/s"]),
        **{k: float(row[v]) for k, v in PERCENTILES.items()},
        "max_ms": float(row["Max Response Time"]),
        "error_rate": _ratio(row["Failure Count"], total),
        "documented_503_rate": _ratio(documented, total),
        "cache_hit_share": _ratio(hits, answered),
        "stale_share": _ratio(per.get("stale", 0), total),
        "usd_per_1k_requests": math.nan,
    }
    if llm_latency_ms is not None:
        out["p99_over_llm_ms"] = out["p99_ms"] - float(llm_latency_ms)
    if events is not None and len(events):
        out["usd_per_1k_requests"] = 1000.0 * float(events["cost_usd"].sum()) / len(events)
    return out


def history_timeline(history: pd.DataFrame) -> pd.DataFrame:
    """Per second of the run (Aggregated rows): users, RPS, failures/s, p50/p95 (Locust's
    current-window percentiles) and the documented-503 rate from the per-name rows."""
    cols = ["t", "users", "rps", "failures_s", "p50_ms", "p95_ms", "documented_s"]
    if history.empty:
        return pd.DataFrame(columns=cols)
    agg = history[history["Name"] == AGGREGATED]
    out = pd.DataFrame({"t": agg["t"], "users": agg["User Count"],
                        "rps": agg["Requests/s"], "failures_s": agg["Failures/s"],
                        "p50_ms": agg["50%"], "p95_ms": agg["95%"]})
    doc = history[history["Name"].isin([traffic.request_name(d) for d in traffic.DOCUMENTED])]
    doc_s = doc.groupby("t")["Requests/s"].sum()
    out["documented_s"] = out["t"].map(doc_s).fillna(0.0)
    return out.reset_index(drop=True)


def outcome_rates(events: pd.DataFrame, start: float | None = None,
                  bin_s: float = 1.0) -> pd.DataFrame:
    """Requests per second by outcome (rows: seconds since ``start``, columns: outcomes)."""
    if events.empty:
        return pd.DataFrame()
    origin = events["t"].min() if start is None else start
    binned = ((events["t"] - origin) // bin_s * bin_s).rename("t")
    table = events.groupby([binned, events["outcome"]]).size().unstack(fill_value=0)
    return table / bin_s


# --- chaos arithmetic (pure) -----------------------------------------------------------------


def breaker_timeline(samples: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """``(epoch seconds, state[, LLM requests so far])`` samples (the state from ``/readyz``,
    the count from the mock's ``/admin/stats``) as a frame with a numeric level (0 closed,
    1 half-open, 2 open, NaN unknown) and ``llm_requests`` (NaN when not sampled)."""
    levels = {"closed": 0, "half-open": 1, "open": 2}
    rows = [(s[0], s[1], s[2] if len(s) > 2 else None) for s in samples]
    frame = pd.DataFrame(rows, columns=["t", "state", "llm_requests"]).astype(
        {"llm_requests": float})
    frame["level"] = frame["state"].map(levels)
    return frame


def chaos_summary(events: pd.DataFrame, breaker: pd.DataFrame, outage_start: float,
                  outage_end: float, reset_timeout_s: float | None = None,
                  settle_s: float = SETTLE_S) -> dict[str, Any]:
    """What the outage did to the users.

    stale_share / refused_share / error_share: of the requests started during the outage, the
    share answered from the stale cache, refused with a documented 503, or failed otherwise.
    cached_share: the share answered from the (fresh) query or semantic cache.
    max_wait_after_open_ms / slow_after_open: the longest request, and the number slower than
    ``SLOW_MS``, among those started after the breaker first opened and before the outage
    ended. Refusals are immediate; what is slow there is the half-open probe (one per reset
    timeout), which does call the LLM and retries its 503s, and, on a saturated app, time
    spent queueing for a worker thread.
    llm_calls_while_open: requests the mock LLM received from ``settle_s`` after the first
    open sample to the end of the outage (from its counter); only the half-open probes and
    their retries should reach it. ``settle_s`` lets calls that started before the breaker
    opened finish their retries (two Retry-After waits of the mock's 1 s).
    recovery_s: from the end of the outage to the first ``closed`` sample of the breaker (0 if
    it never opened; null, with ``recovered`` false, if it did not close before the run ended).
    recovery_beyond_reset_s: recovery_s minus the breaker's reset timeout; the breaker may
    have re-opened just before the outage ended, so the bound is "reset timeout + one probe".
    answers_flow_s: from the end of the outage to the first fresh LLM answer that started after
    it.
    """
    during = events[(events["t"] >= outage_start) & (events["t"] < outage_end)]
    n = len(during)
    out: dict[str, Any] = {
        "outage_requests": n,
        "stale_share": _ratio(int(during["stale"].astype(bool).sum()), n),
        "refused_share": _ratio(int((during["outcome"].isin(traffic.DOCUMENTED)).sum()), n),
        "cached_share": _ratio(int((during["outcome"].isin(traffic.CACHE_HITS)).sum()), n),
        "error_share": _ratio(int(during["failure"].notna().sum()), n),
        "opened": False, "open_after_s": math.nan, "max_wait_after_open_ms": math.nan,
        "slow_after_open": 0, "llm_calls_while_open": 0.0,
        "recovered": True, "recovery_s": 0.0, "answers_flow_s": math.nan,
    }
    opened = breaker[(breaker["t"] >= outage_start) & (breaker["state"] == "open")]
    if not opened.empty:
        t_open = float(opened["t"].iloc[0])
        out["opened"] = True
        out["open_after_s"] = t_open - outage_start
        after = events[(events["t"] >= t_open) & (events["t"] < outage_end)]
        out["max_wait_after_open_ms"] = float(after["ms"].max()) if len(after) else math.nan
        out["slow_after_open"] = int((after["ms"] > SLOW_MS).sum())
        window = (breaker["t"] >= t_open + settle_s) & (breaker["t"] <= outage_end)
        calls = breaker[window]["llm_requests"]
        calls = calls.dropna()
        out["llm_calls_while_open"] = float(calls.max() - calls.min()) if len(calls) else math.nan
        later = breaker[breaker["t"] >= max(outage_end, t_open)]
        closed = later[later["state"] == "closed"]
        if closed.empty:
            out["recovered"], out["recovery_s"] = False, math.nan
        else:
            out["recovery_s"] = max(0.0, float(closed["t"].iloc[0]) - outage_end)
    if reset_timeout_s is not None:
        out["recovery_beyond_reset_s"] = out["recovery_s"] - float(reset_timeout_s)
    fresh = events[(events["t"] >= outage_end) & (events["outcome"] == "miss")]
    if len(fresh):
        done = fresh["t"] + fresh["ms"] / 1000.0
        out["answers_flow_s"] = float(done.min()) - outage_end
    return out


# --- running it ----------------------------------------------------------------------------


@dataclass
class LoadConfig:
    users: int = 20
    spawn_rate: float = 10.0
    duration_s: int = 30
    mix: str = "mixed"
    shape: str = "sustained"  # ramp | sustained | spike | "" (plain -u/-r/-t)
    wait_s: tuple[float, float] = (0.5, 1.5)  # think time of a user between two questions
    workers: int = 2  # uvicorn workers of the app
    mock_latency_ms: float = 3500.0
    mock_jitter_ms: float = 0.0
    breaker_reset_timeout_s: float = 30.0
    chaos: bool = False
    outage_start_s: float = 10.0  # after Locust starts
    outage_s: float = 10.0
    seed: int = 7
    state_dir: str = ""  # empty: .rag_state/loadtest
    output_dir: str = ""
    label: str = "load"  # file prefix of the CSVs
    golden_users: tuple[str, ...] = ()  # only these users' notes and questions (empty: all)
    clear_caches: bool = True  # start from empty answer caches and a closed breaker
    ready_timeout_s: float = 180.0
    stop_services: bool = False  # stop the embedded servers afterwards (tests' temp dirs)
    extra_env: Mapping[str, str] = field(default_factory=dict)


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
    mock_stats: dict[str, Any]
    seconds: float

    def summary(self) -> dict[str, Any]:
        return summarise_load(self.stats, self.events, self.config.mock_latency_ms)

    def chaos(self) -> dict[str, Any]:
        if self.outage is None:
            raise ValueError("this run had no outage (chaos=False)")
        return chaos_summary(self.events, self.breaker, *self.outage,
                             reset_timeout_s=self.config.breaker_reset_timeout_s)

    def timeline(self) -> pd.DataFrame:
        return history_timeline(self.history)

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


def _state_dir(config: LoadConfig) -> Path:
    return Path(config.state_dir) if config.state_dir else LOAD_STATE_DIR


def prepare_state(state_dir: Path, users: Sequence[str] = (), *,
                  clear_caches: bool = True) -> dict[str, Any]:
    """Embedded PostgreSQL and Redis of ``state_dir`` up, and the golden notes ingested there
    (idempotent: unchanged notes are skipped); ``users``: only those libraries.

    ``clear_caches``: every run starts from the same point: the golden users' query, semantic,
    context and stale entries are deleted (embeddings stay), and so is the shared breaker
    state, which a run stopped in the middle of an outage would leave open."""
    from evals import golden
    from evals.paths import GOLDEN_DIR
    from rag_core.config import Settings
    from rag_core.ingest import ingest_path
    from rag_core.parts import parts_for
    from rag_core.pipeline import Pipeline

    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / "services_up.log"
    env = {**os.environ, "RAG_STATE_DIR": str(state_dir), "HF_HUB_OFFLINE": "1"}
    # started from a child whose output goes to a file: the servers inherit that file, not
    # the caller's stdout (a pipe held open by a server would block whoever reads it)
    _spawn([sys.executable, "-m", "rag_core", "services", "up"], env, log).wait(timeout=120)
    settings = Settings(profile="ci", state_dir=state_dir, llm="extractive")
    parts = parts_for(settings)
    try:
        if users:
            for user in users:
                ingest_path(parts, user, GOLDEN_DIR / "notes" / user, progress=False,
                            prune=True)
        else:
            users = list(golden.ensure_ingested(Pipeline(parts))["user_id"])
        if clear_caches:
            for user in users:
                parts.caches.clear(user)
            _clear_breaker(parts.settings)
    finally:
        parts.close()
    return {"users": len(users), "state_dir": str(state_dir)}


def _clear_breaker(settings: Any) -> None:
    import redis

    from rag_core import services
    from rag_core.cache.keys import breaker_prefix

    client = redis.Redis.from_url(services.resolve(settings).redis_url or "")
    try:
        keys = list(client.scan_iter(breaker_prefix("") + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _spawn(args: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")  # noqa: SIM115 (closed by the child's exit; we keep no handle)
    try:
        return subprocess.Popen(list(args), env=dict(env), cwd=REPO_ROOT, stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        handle.close()


def _stop(proc: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    """SIGTERM to the process group, SIGKILL after ``grace_s``."""
    if proc is None or proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def breaker_state(app_url: str) -> str:
    import httpx

    try:
        body = httpx.get(f"{app_url}/readyz", timeout=2).json()
        return str(body.get("checks", {}).get("breaker", "unknown"))
    except (httpx.HTTPError, ValueError):
        return "unknown"


def llm_requests(mock_url: str) -> int | None:
    import httpx

    try:
        return int(httpx.get(f"{mock_url}/admin/stats", timeout=2).json()["requests"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


class _Sampler(threading.Thread):
    """Samples the breaker state from ``/readyz`` and the mock LLM's request counter every
    ``every_s`` until stopped."""

    def __init__(self, app_url: str, mock_url: str, every_s: float = 0.5) -> None:
        super().__init__(daemon=True, name="breaker-sampler")
        self.app_url, self.mock_url, self.every_s = app_url, mock_url, every_s
        self.samples: list[tuple[float, str, int | None]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            now = time.time()
            self.samples.append((now, breaker_state(self.app_url), llm_requests(self.mock_url)))
            self.done.wait(self.every_s)


@contextmanager
def running_stack(config: LoadConfig, out: Path) -> Iterator[dict[str, Any]]:
    """Mock LLM and app up (state prepared first); yields URLs, env and the token file."""
    from pydantic import SecretStr

    from rag_core.auth import issue_token
    from rag_core.config import Settings

    state = _state_dir(config)
    prepare_state(state, config.golden_users, clear_caches=config.clear_caches)
    secret = secrets.token_hex(32)
    mock_port, app_port = free_port(), free_port()
    mock_url, app_url = f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{app_port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "RAG_STATE_DIR": str(state), "RAG_JWT_SECRET": secret, "RAG_LLM": "hf",
           "RAG_LLM_BASE_URL": f"{mock_url}/v1",
           "RAG_BREAKER_RESET_TIMEOUT_S": str(config.breaker_reset_timeout_s),
           # the load test measures throughput, not the budget stop
           "RAG_USER_DAILY_BUDGET_USD": "1000000", "RAG_GLOBAL_DAILY_BUDGET_USD": "1000000",
           "RAG_LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO_ROOT),
           **dict(config.extra_env)}
    users = traffic.QuestionBank.from_items(traffic.load_items()).users
    settings = Settings(jwt_secret=SecretStr(secret))
    tokens = traffic.write_tokens({u: issue_token(settings, u, ttl_s=6 * 3600) for u in users},
                                  out / f"{config.label}_tokens.json")
    py = sys.executable
    mock = app = None
    try:
        mock = _spawn([py, "-m", "rag_core", "mock-llm", "--port", str(mock_port),
                       "--latency-ms", str(config.mock_latency_ms),
                       "--latency-jitter-ms", str(config.mock_jitter_ms),
                       "--latency-dist", "uniform" if config.mock_jitter_ms else "fixed",
                       "--seed", str(config.seed)], env, out / f"{config.label}_mock.log")
        wait_http(f"{mock_url}/health", 60, proc=mock, log=out / f"{config.label}_mock.log")
        app = _spawn([py, "-m", "rag_core", "serve", "--port", str(app_port),
                      "--workers", str(config.workers)], env, out / f"{config.label}_app.log")
        wait_http(f"{app_url}/readyz", config.ready_timeout_s, proc=app,
                  log=out / f"{config.label}_app.log")
        yield {"mock_url": mock_url, "app_url": app_url, "env": env, "tokens": tokens}
    finally:
        _stop(app)
        _stop(mock)
        tokens.unlink(missing_ok=True)
        if config.stop_services:
            from rag_core import services

            services.stop_all(Settings(state_dir=state))


def locust_command(config: LoadConfig, host: str, prefix: Path) -> list[str]:
    locust = str(Path(sys.executable).with_name("locust"))
    return [locust, "-f", str(LOCUSTFILE), "--headless", "-u", str(config.users),
            "-r", str(config.spawn_rate), "-t", f"{int(config.duration_s)}s", "--host", host,
            "--csv", str(prefix), "--csv-full-history", "--only-summary",
            "--stop-timeout", str(max(5, math.ceil(config.mock_latency_ms / 1000) + 3)),
            "--loglevel", "WARNING"]


def run_load(config: LoadConfig) -> LoadRun:
    """One bounded Locust run against a fresh app + mock (and an outage if ``chaos``)."""
    from rag_core.llm.mock_server import mock_stats, start_outage

    out = Path(config.output_dir) if config.output_dir else REPO_ROOT / "reports" / "dev" / \
        config.label
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / config.label
    for old in out.glob(f"{config.label}_*.csv"):
        old.unlink()
    events_base = out / f"{config.label}_events"
    for old in out.glob(f"{events_base.name}.*.jsonl"):
        old.unlink()
    started = time.perf_counter()
    outage: tuple[float, float] | None = None
    with running_stack(config, out) as stack:
        env = {**stack["env"], "RAG_LOAD_MIX": config.mix, "RAG_LOAD_SHAPE": config.shape,
               "RAG_LOAD_WAIT": ",".join(str(float(w)) for w in config.wait_s),
               "RAG_LOAD_USERS": ",".join(config.golden_users),
               "RAG_LOAD_TOKENS": str(stack["tokens"]), "RAG_LOAD_EVENTS": str(events_base)}
        sampler = _Sampler(stack["app_url"], stack["mock_url"])
        sampler.start()
        log = out / f"{config.label}_locust.log"
        proc = _spawn(locust_command(config, stack["app_url"], prefix), env, log)
        code: int | None = None
        try:
            if config.chaos:
                time.sleep(config.outage_start_s)
                t0 = time.time()
                start_outage(stack["mock_url"], config.outage_s)
                outage = (t0, t0 + config.outage_s)
            code = proc.wait(timeout=config.duration_s + 90)
        finally:
            _stop(proc)
            time.sleep(1.0)  # one more breaker sample after the last request
            sampler.done.set()
            sampler.join(timeout=5)
        mocked = mock_stats(stack["mock_url"])
    events = read_events(sorted(out.glob(f"{events_base.name}.*.jsonl")))
    stats = read_stats(prefix)
    if stats.empty:
        raise RuntimeError(f"Locust wrote no statistics; see {log}:\n{log.read_text()[-2000:]}")
    breaker = breaker_timeline(sampler.samples)
    breaker.to_csv(out / f"{config.label}_breaker.csv", index=False)
    return LoadRun(config, prefix, stats, read_history(prefix), read_failures(prefix), events,
                   breaker, outage, code, mocked,
                   round(time.perf_counter() - started, 1))


def params_of(config: LoadConfig) -> dict[str, Any]:
    """The config as plain values for ``record(..., params=...)``."""
    return {k: v for k, v in asdict(config).items() if k != "extra_env"}
