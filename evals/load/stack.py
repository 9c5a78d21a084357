"""The processes of a load test, on loopback: the embedded PostgreSQL and Redis of a state
dir with the golden notes, the mock LLM, and the app with N uvicorn workers talking to the mock
through the ``hf`` generator (``running_stack``); a sampler of the breaker state and of the
mock's request counter; and the teardown of all of them. ``evals.load.loadtest`` runs Locust
against it.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from evals.load import limits
from evals.load.outage import SecondProvider
from evals.paths import REPO_ROOT
from loadtests import traffic
from rag_core.config import Settings
from rag_core.procs import free_port, stop_group, wait_http

SECOND_MODEL = "mock-llm-second"  # the second mock provider's model id


@dataclass
class LoadConfig:
    users: int = 20
    spawn_rate: float = 10.0
    duration_s: int = 30  # with stop_after_requests: a deadline
    stop_after_requests: int = 0  # N > 0: the run ends once N requests have finished
    mix: str = "mixed"
    shape: str = "sustained"  # ramp | sustained | spike | "" (plain -u/-r/-t)
    wait_s: tuple[float, float] = (0.5, 1.5)  # think time of a user between two questions
    workers: int = 2  # uvicorn workers of the app
    locust_workers: int = 0  # 0: Locust in one process; N: one master and N worker processes
    mock_latency_ms: float = 3500.0
    mock_jitter_ms: float = 0.0
    mock_tokens_per_s: float = 0.0  # the mock's streaming pace (0: as fast as it can)
    warmup_s: float = 0.0  # requests started this soon after the start (or a step) are left
    # out of the figures computed from the per-request log (evals.load.metrics.after_warmup)
    steps: tuple[int, ...] = ()  # shape "steps": users per step of a concurrency sweep
    step_s: float = 10.0  # seconds per step
    breaker_reset_timeout_s: float = 30.0
    chaos: bool = False
    outage_start_s: float = 10.0  # after Locust starts
    outage_s: float = 10.0
    seed: int = 7
    state_dir: str = ""  # empty: loadtest/ in the harness's state folder ($RAG_STATE_DIR)
    output_dir: str = ""
    label: str = "load"  # file prefix of the CSVs
    golden_users: tuple[str, ...] = ()  # only these users' notes and questions (empty: all)
    dataset: str = ""  # a dataset folder (evals/datasets): its notes and questions; empty: golden
    clear_caches: bool = True  # start from empty answer caches and a closed breaker
    # before the timed run, rounds of this many questions at once (0: none) wake the app's
    # lazy parts; the warmed user's caches are cleared afterwards (warm_up)
    warm_up_requests: int = 0
    ready_timeout_s: float = 180.0
    stop_services: bool = False  # stop the embedded servers afterwards (tests' temp dirs)
    # > 0: every this many seconds of a run, each server's memory, Redis used_memory and
    # PostgreSQL connections are sampled (a soak, evals.load.soak)
    resource_sample_s: float = 0.0
    # > 0: the novel users draw from this many new questions per user (RAG_LOAD_NOVEL_POOL)
    novel_pool: int = 0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    llm_fallback: str = "extractive"  # RAG_LLM_FALLBACK of the app: extractive | none
    # a second mock LLM as the second provider (RAG_LLM_FALLBACK_BASE_URL), at these prices
    # per input and output token; the outage hits the first mock only
    second_provider: bool = False
    second_prices: tuple[float, float] = (0.000002, 0.000006)
    # a provider that lies about usage for the whole run (evals.load.lying.LIES: negative,
    # missing, absurd; every mock, the second too); "" an honest one
    lying_usage: str = ""
    # a cold start (evals.load.cold_start): the embedded services restarted, every cache
    # layer of every user emptied (question embeddings too), no warm-up
    cold_start: bool = False


def second_provider(config: LoadConfig) -> SecondProvider | None:
    """The second provider of ``config`` (None without one)."""
    if not config.second_provider:
        return None
    return SecondProvider(SECOND_MODEL, *config.second_prices)


def _state_dir(config: LoadConfig) -> Path:
    """The load test's own state folder: ``config.state_dir``, else ``loadtest/`` in the
    harness's state folder (``$RAG_STATE_DIR`` when set, like every other notebook)."""
    from evals.knobs import harness_state_dir

    return Path(config.state_dir) if config.state_dir else harness_state_dir() / "loadtest"


def prepare_state(state_dir: Path, users: Sequence[str] = (), *,
                  clear_caches: bool = True, dataset: str = "",
                  cold: bool = False) -> dict[str, object]:
    """Embedded PostgreSQL and Redis of ``state_dir`` up, and the golden notes ingested there
    (idempotent: unchanged notes are skipped); ``users``: only those libraries; ``dataset``:
    a dataset folder's notes instead of the golden ones.

    ``clear_caches``: every run starts from the same point: the golden users' query, semantic,
    context and stale entries are deleted (embeddings stay), and so is the shared breaker
    state, which a run stopped in the middle of an outage would leave open. ``cold``: the
    services are stopped first (fresh processes, PostgreSQL's buffers empty) and every cache
    entry goes, the question embeddings too."""
    from evals.datasets import golden
    from evals.paths import GOLDEN_DIR
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import parts_for, reset_breakers
    from rag_core.pipeline import Pipeline

    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / "services_up.log"
    if cold:
        from rag_core import services

        services.stop_all(Settings(state_dir=state_dir))
    env = {**os.environ, "RAG_STATE_DIR": str(state_dir), "HF_HUB_OFFLINE": "1"}
    # started from a child whose output goes to a file: the servers inherit that file, not
    # the caller's stdout (a pipe held open by a server would block whoever reads it)
    spawn([sys.executable, "-m", "rag_core", "services", "up"], env, log).wait(timeout=120)
    settings = Settings(profile="ci", state_dir=state_dir, llm="extractive")
    parts = parts_for(settings)
    notes_dir = Path(dataset) / "notes" if dataset else GOLDEN_DIR / "notes"
    try:
        if dataset and not users:
            users = sorted(p.name for p in notes_dir.iterdir() if p.is_dir())
        if users:
            for user in users:
                ingest_path(parts, user, notes_dir / user, progress=False, prune=True)
        else:
            users = list(golden.ensure_ingested(Pipeline(parts))["user_id"])
        if clear_caches or cold:
            for user in users:
                parts.caches.clear(user)
            if cold:
                parts.caches.clear(None)
            reset_breakers(parts.settings)
    finally:
        parts.close()
    return {"users": len(users), "state_dir": str(state_dir)}


def _dataset_items(dataset: str, path: Path) -> Path | None:
    """A dataset's QA items in the golden columns, as the locustfile reads them
    (``RAG_LOAD_QA``); None for the golden set."""
    if not dataset:
        return None
    import json

    from evals.datasets import load_dataset

    qa = load_dataset(dataset).qa
    rows = qa.astype(object).where(qa.notna(), None).to_dict("records")
    path.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")
    return path


def clear_user_caches(state_dir: Path, users: Sequence[str]) -> None:
    """The answer caches of ``users`` emptied again (as ``prepare_state`` does before a run)."""
    from rag_core.parts import parts_for

    parts = parts_for(Settings(profile="ci", state_dir=state_dir, llm="extractive"))
    try:
        for user in users:
            parts.caches.clear(user)
    finally:
        parts.close()


WARM_UP_ROUNDS = 2


def warm_up(app_url: str, token: str, questions: Sequence[str], at_once: int,
            rounds: int = WARM_UP_ROUNDS) -> dict[str, float]:
    """``rounds`` rounds of ``at_once`` different questions sent together (so that each
    uvicorn worker gets some), each round after the previous one is answered: a fresh app
    loads parts of its pipeline on its first questions (seconds on a quiet machine, tens of
    seconds on a busy one), which a timed run would otherwise count as serving time. Returns
    each round's wall time (``warm_up_round<i>_s``); the first is the app's start-up as its
    first users see it."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    times: dict[str, float] = {}
    with httpx.Client(timeout=300) as client, ThreadPoolExecutor(max(1, at_once)) as pool:
        for i in range(rounds):
            asked = [questions[(i * at_once + j) % len(questions)] for j in range(at_once)]
            started = time.perf_counter()
            list(pool.map(lambda q: client.post(f"{app_url}{traffic.QUERY_PATH}",
                                                json={"query": q}, headers=headers), asked))
            times[f"warm_up_round{i + 1}_s"] = round(time.perf_counter() - started, 3)
    return times


def _spawn_mock(config: LoadConfig, port: int, env: Mapping[str, str], log: Path,
                model: str | None = None) -> subprocess.Popen[bytes]:
    """A mock LLM of the run's latency and pace (``model``: the id it reports)."""
    return spawn([sys.executable, "-m", "rag_core", "mock-llm", "--port", str(port),
                  "--latency-ms", str(config.mock_latency_ms),
                  "--latency-jitter-ms", str(config.mock_jitter_ms),
                  "--latency-dist", "uniform" if config.mock_jitter_ms else "fixed",
                  "--tokens-per-s", str(config.mock_tokens_per_s),
                  "--seed", str(config.seed), *(["--model", model] if model else [])],
                 env, log)


def spawn(args: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")  # noqa: SIM115 (closed by the child's exit; we keep no handle)
    try:
        return subprocess.Popen(list(args), env=dict(env), cwd=REPO_ROOT, stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        handle.close()


def stop(proc: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    """SIGTERM to the process group, SIGKILL after ``grace_s``."""
    stop_group(proc, grace_s)


def breaker_state(app_url: str, metrics_token: str = "") -> str:
    """The breaker's state from ``/readyz``'s details, which the app shows to the holder of
    its metrics token (the public body is the status alone)."""
    import httpx

    headers = {"Authorization": f"Bearer {metrics_token}"} if metrics_token else {}
    try:
        body = httpx.get(f"{app_url}/readyz", headers=headers, timeout=2).json()
        return str(body.get("checks", {}).get("breaker", "unknown"))
    except (httpx.HTTPError, ValueError):
        return "unknown"


def shed_counts(app_url: str, metrics_token: str = "") -> dict[str, float]:
    """``requests_shed_total`` by reason from the app's ``/metrics`` (summed over its
    workers); empty when it cannot be read."""
    import httpx

    headers = {"Authorization": f"Bearer {metrics_token}"} if metrics_token else {}
    try:
        text = httpx.get(f"{app_url}/metrics", headers=headers, timeout=5).text
    except httpx.HTTPError:
        return {}
    return shed_reasons(text)


def shed_reasons(text: str) -> dict[str, float]:
    """``requests_shed_total`` by reason from a Prometheus exposition."""
    found = re.findall(r'^requests_shed_total\{reason="([^"]+)"\} ([0-9.e+]+)$', text, re.M)
    return {reason: float(value) for reason, value in found}


def llm_requests(mock_url: str) -> int | None:
    import httpx

    try:
        return int(httpx.get(f"{mock_url}/admin/stats", timeout=2).json()["requests"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


class Sampler(threading.Thread):
    """Samples the breaker state from ``/readyz`` and the mock LLM's request counter every
    ``every_s`` until stopped; ``finish`` takes one last sample at once and stops it."""

    def __init__(self, app_url: str, mock_url: str, every_s: float = 0.5,
                 metrics_token: str = "") -> None:
        super().__init__(daemon=True, name="breaker-sampler")
        self.app_url, self.mock_url, self.every_s = app_url, mock_url, every_s
        self.metrics_token = metrics_token
        self.samples: list[tuple[float, str, int | None]] = []
        self.done = threading.Event()
        self._last = threading.Event()  # set by finish: the next sample is the last one

    def run(self) -> None:
        while True:
            last = self._last.is_set()
            now = time.time()
            self.samples.append((now, breaker_state(self.app_url, self.metrics_token),
                                 llm_requests(self.mock_url)))
            if last or self.done.is_set():
                return
            self._last.wait(self.every_s)

    def finish(self, timeout_s: float = 10.0) -> None:
        """One more sample, taken now (after the last request of a run that has ended), then
        the thread ends; waits for it (the sample's two reads time out in 2 s each)."""
        self._last.set()
        self.join(timeout=timeout_s)
        self.done.set()


class Stack(TypedDict):
    """What ``running_stack`` yields: the servers' URLs and the files the load needs."""

    mock_url: str
    second_url: str | None  # the second provider's mock (None without one)
    app_url: str
    env: dict[str, str]  # the servers' environment
    tokens: Path  # user -> bearer token (JSON)
    app_pid: int
    mock_pid: int
    qa_file: Path | None  # the dataset's items (None: the golden set)
    metrics_token: str
    warm_up: dict[str, float]  # the warm-up's round times (empty: no warm-up)


@contextmanager
def running_stack(config: LoadConfig, out: Path) -> Iterator[Stack]:
    """Mock LLM and app up (state prepared first); yields URLs, env and the token file."""
    from pydantic import SecretStr

    from rag_core.api.auth import issue_token

    state = _state_dir(config)
    prepare_state(state, config.golden_users, clear_caches=config.clear_caches,
                  dataset=config.dataset, cold=config.cold_start)
    secret = secrets.token_hex(32)
    metrics_token = secrets.token_hex(16)  # the harness reads /readyz's details as an operator
    mock_port, app_port = free_port(), free_port()
    mock_url, app_url = f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{app_port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "RAG_STATE_DIR": str(state), "RAG_JWT_SECRET": secret, "RAG_LLM": "hf",
           "RAG_METRICS_TOKEN": metrics_token,
           "RAG_LLM_BASE_URL": f"{mock_url}/v1",
           "RAG_BREAKER_RESET_TIMEOUT_S": str(config.breaker_reset_timeout_s),
           # the load test measures throughput, not the budget stop
           "RAG_USER_DAILY_BUDGET_USD": "1000000", "RAG_GLOBAL_DAILY_BUDGET_USD": "1000000",
           "RAG_LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO_ROOT),
           "RAG_LLM_FALLBACK": config.llm_fallback,
           # the request limits off unless the run sets them (evals.load.limits)
           **limits.off_env(), **dict(config.extra_env)}
    second_port = free_port() if config.second_provider else None
    second_url = f"http://127.0.0.1:{second_port}" if second_port else None
    if second_url:
        env.update({"RAG_LLM_FALLBACK_BASE_URL": f"{second_url}/v1",
                    "RAG_LLM_FALLBACK_MODEL": SECOND_MODEL,
                    "RAG_PRICE_FALLBACK_INPUT_PER_TOKEN_USD": str(config.second_prices[0]),
                    "RAG_PRICE_FALLBACK_OUTPUT_PER_TOKEN_USD": str(config.second_prices[1])})
    qa_file = _dataset_items(config.dataset, out / f"{config.label}_qa.jsonl")
    users = traffic.QuestionBank.from_items(traffic.load_items(qa_file=qa_file)).users
    settings = Settings(jwt_secret=SecretStr(secret))
    tokens = traffic.write_tokens({u: issue_token(settings, u, ttl_s=6 * 3600) for u in users},
                                  out / f"{config.label}_tokens.json")
    py = sys.executable
    mock = second = app = None
    try:
        mock = _spawn_mock(config, mock_port, env, out / f"{config.label}_mock.log")
        wait_http(f"{mock_url}/health", 60, proc=mock, log=out / f"{config.label}_mock.log")
        if second_port is not None:
            log = out / f"{config.label}_mock_second.log"
            second = _spawn_mock(config, second_port, env, log, model=SECOND_MODEL)
            wait_http(f"{second_url}/health", 60, proc=second, log=log)
        app = spawn([py, "-m", "rag_core", "serve", "--port", str(app_port),
                      "--workers", str(config.workers)], env, out / f"{config.label}_app.log")
        wait_http(f"{app_url}/readyz", config.ready_timeout_s, proc=app,
                  log=out / f"{config.label}_app.log")
        warmed: dict[str, float] = {}
        if config.warm_up_requests > 0 and not config.cold_start:
            bank = traffic.QuestionBank.from_items(traffic.load_items(qa_file=qa_file),
                                                   only=list(config.golden_users))
            user = bank.users[0]
            warmed = warm_up(app_url, issue_token(settings, user, ttl_s=600),
                             bank.answerable[user], config.warm_up_requests)
            clear_user_caches(state, [user])
        yield {"mock_url": mock_url, "second_url": second_url, "app_url": app_url, "env": env,
               "tokens": tokens,
               "app_pid": app.pid, "mock_pid": mock.pid, "qa_file": qa_file,
               "metrics_token": metrics_token, "warm_up": warmed}
    finally:
        stop(app)
        stop(mock)
        stop(second)
        tokens.unlink(missing_ok=True)
        if config.stop_services:
            from rag_core import services

            services.stop_all(Settings(state_dir=state))
