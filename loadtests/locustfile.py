"""Locust users for rag_core: golden users asking POST /v1/query.

Settings (loadtests/config.py): each is an option of ``locust`` whose default is the
environment variable the scripts set, read once when the run starts (``events.init``):

    --rag-load-mix / RAG_LOAD_MIX=repeat|novel|adversarial|stream|mixed
                                                  which user classes run (default mixed;
                                                  stream: StreamingUser alone)
    --rag-load-shape / RAG_LOAD_SHAPE=ramp|sustained|spike|steps
                                                  a load shape (default: plain -u/-r/-t)
    RAG_LOAD_STEPS=1,2,4,8 RAG_LOAD_STEP_S=10     the user counts of the steps shape
    RAG_LOAD_TOKENS=file.json                     {"user": "jwt"}; else issued with RAG_JWT_SECRET
    RAG_LOAD_EVENTS=prefix                        per-request JSON lines (cost, stale, timing)
    RAG_LOAD_WAIT=min,max                         think time in seconds (default 0.5,1.5)
    RAG_LOAD_USERS=amara,ben                      only these golden users (default all)
    RAG_LOAD_QA=qa.jsonl                          a dataset's QA items (golden columns) instead
                                                  of golden/qa/*.jsonl
    RAG_LOAD_CACHE=cold                           every question with cache.no_cache (default warm)
    RAG_LOAD_SEED=7                               the n-th user of a kind draws the same
                                                  library, questions and think times every run
    RAG_LOAD_STOP_AFTER=20                        quit once 20 requests have finished (all
                                                  workers together); -t is then a deadline
    RAG_LOAD_RETRY_AFTER=on|off                   a user refused by a request limit waits
                                                  the server's Retry-After (default on)
    RAG_LOAD_NOVEL_POOL=200                       the novel and streaming users ask again
                                                  from 200 new questions per user (default 0:
                                                  every one new; the soak's steady state)

Answers are reported as ``/v1/query <outcome>`` (hit, semantic_hit, miss, no_context, stale,
degraded, ``503 documented``, ``limited``: a request limit's 429 or 503 OVERLOADED, error); see
loadtests/traffic.py and loadtests/README.md. Streamed answers (``StreamingUser``) are timed
to their last byte and also log time to first token, the gaps between text chunks and output
tokens/s (loadtests/streaming.py).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gevent  # noqa: E402
from locust import FastHttpUser, HttpUser, events, task  # noqa: E402
from locust.runners import MasterRunner, WorkerRunner  # noqa: E402

from loadtests import conversing, lateness, shapes, streaming, traffic  # noqa: E402
from loadtests.config import LoadConfig, add_arguments  # noqa: E402


@dataclass(frozen=True)
class _Run:
    """What the users of this process share, built once when the run starts."""

    config: LoadConfig
    bank: traffic.QuestionBank
    tokens: dict[str, str]
    log: IO[str] | None


_run: _Run | None = None
_spawned: dict[str, int] = {}  # users of each kind started so far by this process
_late = lateness.Lateness()  # this process's own loop lag, in each event line


def run_state() -> _Run:
    if _run is None:
        raise RuntimeError("the locustfile's settings are read in events.init; run it with locust")
    return _run


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    add_arguments(parser)


@events.init.add_listener
def _read_settings(environment: Any, **_: object) -> None:
    """Read the settings once, then keep the user classes of the mix (with their weights) and
    make the named shape the run's shape."""
    global _run
    config = LoadConfig.from_options(environment.parsed_options)
    bank = traffic.QuestionBank.from_items(traffic.load_items(qa_file=config.qa_file),
                                           only=list(config.users)
                                           ).with_novel_pool(config.novel_pool, config.seed)
    # a dataset without attack items: the mixed mix leaves the adversarial users out
    weights = traffic.user_classes_for(config.mix, bank)
    events_file = traffic.events_path(config.events_base)
    _run = _Run(config, bank, traffic.tokens_for(bank.users, config.tokens_file),
                open(events_file, "a", buffering=1) if events_file else None)  # noqa: SIM115
    for user_class in USER_CLASSES:
        user_class.weight = weights.get(user_class.kind, 0)
    environment.user_classes[:] = [u for u in environment.user_classes
                                   if getattr(u, "kind", None) in weights]
    shape = shapes.shape_for(config)
    if shape is not None:
        environment.shape_class = shape
        shape.runner = environment.runner
    if events_file and not isinstance(environment.runner, MasterRunner):
        gevent.spawn(_late.run)


@events.quitting.add_listener
def _close_log(**_: object) -> None:
    if _run is not None and _run.log is not None:
        _run.log.close()


@events.init.add_listener
def _stop_workers_before_quitting(environment: Any, **_: object) -> None:
    """A distributed run's master quits at the end of ``-t`` (or of a shape) without first
    asking its workers to stop, and writes its report half a second later; a worker also sends
    its figures only every few seconds (Locust's ``WORKER_REPORT_INTERVAL``), and not when it
    is stopped. So the requests of a run's last seconds could be missing from the report.
    Here the master stops the workers first (``--stop-timeout``), then waits, on conditions
    with a generous deadline, until each worker has sent a report after it stopped and the
    ``--csv`` file holds every request counted, and only then quits."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    quit_now = runner.quit
    reported: dict[str, float] = {}

    @events.worker_report.add_listener
    def _seen(client_id: str, **_: object) -> None:
        reported[client_id] = time.monotonic()

    def stop_then_quit() -> None:
        workers = set(runner.clients.keys())
        runner.stop()  # returns once every worker said it stopped (its users are gone)
        stopped = time.monotonic()
        # a worker's messages arrive in order: a report after its "stopped" has every request
        _wait_for(lambda: all(reported.get(w, 0.0) > stopped for w in workers))
        _wait_for(lambda: _csv_count(environment) >= runner.stats.total.num_requests)
        quit_now()

    runner.quit = stop_then_quit  # type: ignore[method-assign]


def _wait_for(condition: Any, deadline_s: float = 60.0) -> None:
    """Sleep (cooperatively) until ``condition()`` holds or the deadline passes."""
    end = time.monotonic() + deadline_s
    while not condition() and time.monotonic() < end:
        gevent.sleep(0.25)


def _csv_count(environment: Any) -> int:
    """Requests in the ``--csv`` report (Locust rewrites it every second, not at the end);
    without ``--csv``, there is nothing to wait for."""
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix:
        return 1 << 62
    return traffic.csv_request_count(f"{prefix}_stats.csv")


@events.test_start.add_listener
def _quit_after_enough_requests(environment: Any, **_: object) -> None:
    """With ``RAG_LOAD_STOP_AFTER`` (``--rag-load-stop-after``), the run ends on a condition
    (that many requests finished, counted by the master in a distributed run) rather than at
    the end of a time window; the run time stays the deadline."""
    runner = environment.runner
    stop_after = run_state().config.stop_after
    if stop_after <= 0 or isinstance(runner, WorkerRunner):
        return

    def watch() -> None:
        while runner.stats.total.num_requests < stop_after:
            gevent.sleep(0.25)
        # the --csv report must hold the requests counted, so that the report has them too
        _wait_for(lambda: _csv_count(environment) >= stop_after, deadline_s=30)
        runner.quit()

    gevent.spawn(watch)


def _settle(resp: Any, outcome: traffic.Outcome) -> None:
    """Name the request by its outcome and mark it a success or a failure for Locust."""
    resp.request_meta["name"] = traffic.request_name(outcome.label)
    if outcome.failure:
        resp.failure(outcome.failure)
    else:
        resp.success()


def _log_event(started: float, ms: float, kind: str, outcome: traffic.Outcome, status: int,
               extra: dict[str, Any] | None = None) -> None:
    """One line of the per-request event log (``RAG_LOAD_EVENTS``), when it is on."""
    log = run_state().log
    if log is not None:
        log.write(traffic.event_line(started, ms, kind, outcome, status, extra) + "\n")


class _Golden:
    """What every golden user has: a JWT ``sub``, a seeded random source, think time."""

    kind = "repeat"
    weight: float  # Locust's, set from the mix when the run starts (_read_settings)
    environment: Any

    retry_wait = 0.0  # a request limit's Retry-After, waited instead of the next think time

    def wait_time(self) -> float:  # think time, from the user's own (seeded) random source
        think = self.rng.uniform(*run_state().config.wait)
        waited, self.retry_wait = self.retry_wait, 0.0
        return max(think, waited)

    def honour(self, outcome: traffic.Outcome) -> None:
        """A refusal by a request limit: the next question waits its Retry-After."""
        if outcome.label in traffic.LIMITED and run_state().config.retry_after:
            self.retry_wait = outcome.retry_after

    def on_start(self) -> None:
        number = _spawned[self.kind] = _spawned.get(self.kind, 0) + 1
        worker = max(0, int(getattr(self.environment.runner, "worker_index", 0) or 0))
        run = run_state()
        self.rng = traffic.user_rng(run.config.seed, self.kind, number, worker)
        self.user_id = self.rng.choice(run.bank.users)
        self.headers = {"Authorization": f"Bearer {run.tokens[self.user_id]}"}


class GoldenUser(_Golden, FastHttpUser):
    """One golden user (JWT ``sub``) asking questions of one kind; subclasses set ``kind``."""

    abstract = True

    @task
    def ask(self) -> None:
        question = traffic.question_for(self.kind, run_state().bank, self.user_id, self.rng)
        started = time.time()
        with self.client.post(traffic.QUERY_PATH, json=run_state().config.body(question),
                              headers=self.headers, name=traffic.request_name(self.kind),
                              catch_response=True) as resp:
            status = int(resp.status_code or 0)
            outcome, _ = traffic.read_reply(resp)
            _settle(resp, outcome)
            timing = lateness.server_timing(resp.headers or {})
        self.honour(outcome)
        flight = time.time() - started
        _log_event(started, flight * 1000, self.kind, outcome, status,
                   {"user": self.user_id, **timing, **_late.fields(flight)})


class RepeatHeavyUser(GoldenUser):
    """Popular golden questions again and again: mostly query-cache hits."""

    kind = "repeat"


class NovelUser(GoldenUser):
    """Questions nobody asked before: cache misses, so retrieval and the LLM every time."""

    kind = "novel"


class AdversarialUser(GoldenUser):
    """The golden prompt-injection, prompt-leak and cross-user probes."""

    kind = "adversarial"


class ConversationUser(_Golden, FastHttpUser):
    """Conversations of the golden multi-turn set: a first question, then its follow-ups with
    the ``conversation_id`` the first answer returned (``loadtests.conversing``)."""

    kind = conversing.OPEN_KIND

    def on_start(self) -> None:
        super().on_start()
        held = conversing.load_conversations(users=[self.user_id]).get(self.user_id, [])
        self.conversing = conversing.Conversing(held, self.rng) if held else None

    @task
    def ask(self) -> None:
        if self.conversing is None:  # a user with no conversation in the set: novel questions
            question = traffic.question_for("novel", run_state().bank, self.user_id, self.rng)
            more, kind = {}, self.kind
        else:
            question, conversation_id, kind = self.conversing.next()
            more = {"conversation_id": conversation_id}
        started = time.time()
        with self.client.post(
                traffic.QUERY_PATH, json=run_state().config.body(question, **more),
                headers=self.headers, name=traffic.request_name(kind),
                catch_response=True) as resp:
            status = int(resp.status_code or 0)
            outcome, body = traffic.read_reply(resp)
            _settle(resp, outcome)
            timing = lateness.server_timing(resp.headers or {})
        if self.conversing is not None:
            self.conversing.answered(status, body)
        self.honour(outcome)
        flight = time.time() - started
        _log_event(started, flight * 1000, kind, outcome, status,
                   {"user": self.user_id, **timing, **_late.fields(flight)})


class StreamingUser(_Golden, HttpUser):
    """Novel questions with ``"stream": true``: the LLM streams every answer. Each request is
    timed to its last byte (Locust's figure) and logs, with ``RAG_LOAD_EVENTS``, its time to
    first text chunk, the gaps between chunks and output tokens/s. An ``HttpUser``: requests
    hands over each chunk of the event stream as it arrives."""

    kind = streaming.STREAM_KIND

    @task
    def ask_streaming(self) -> None:
        question = traffic.question_for(self.kind, run_state().bank, self.user_id, self.rng)
        started, t0 = time.time(), time.perf_counter()
        timer = streaming.SseTimer(t0)
        asked = run_state().config.body(question, stream=True)
        with self.client.post(traffic.QUERY_PATH, json=asked, headers=self.headers,
                              name=traffic.request_name(self.kind), stream=True,
                              catch_response=True) as resp:
            status = int(resp.status_code or 0)
            headers = dict(resp.headers or {})
            error = getattr(resp, "error", None)
            if status == 200 and "event-stream" in headers.get("content-type", ""):
                try:
                    for chunk in resp.iter_content(chunk_size=None):
                        timer.feed(chunk, time.perf_counter())
                except Exception as exc:  # cut in the middle: a failure of its own
                    error = exc
                outcome = timer.outcome(status, headers)
                if error is not None and outcome.failure is None:
                    outcome = traffic.Outcome("error", failure=f"stream cut: {error!r}"[:200])
            else:  # refused before the stream began: a JSON error, classified as usual
                outcome, _ = traffic.read_reply(resp)
            elapsed_ms = (time.perf_counter() - t0) * 1000
            resp.request_meta["response_time"] = elapsed_ms
            _settle(resp, outcome)
        self.honour(outcome)
        _log_event(started, elapsed_ms, self.kind, outcome, status,
                   {**streaming.stream_fields(timer), "user": self.user_id})


# the classes that run are those of the mix, weighted by it (_read_settings)
USER_CLASSES: tuple[type[_Golden], ...] = (RepeatHeavyUser, NovelUser, AdversarialUser,
                                           StreamingUser, ConversationUser)
