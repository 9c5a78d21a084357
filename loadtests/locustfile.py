"""Locust users for rag_core: golden users asking POST /v1/query.

    RAG_LOAD_MIX=repeat|novel|adversarial|mixed   which user classes run (default mixed)
    RAG_LOAD_SHAPE=ramp|sustained|spike           a load shape (default: plain -u/-r/-t)
    RAG_LOAD_TOKENS=file.json                     {"user": "jwt"}; else issued with RAG_JWT_SECRET
    RAG_LOAD_EVENTS=prefix                        per-request JSON lines (cost, stale, timing)
    RAG_LOAD_WAIT=min,max                         think time in seconds (default 0.5,1.5)
    RAG_LOAD_USERS=amara,ben                      only these golden users (default all)
    RAG_LOAD_SEED=7                               the n-th user of a kind draws the same
                                                  library, questions and think times every run

Answers are reported as ``/v1/query <outcome>`` (hit, semantic_hit, miss, no_context, stale,
``503 documented``, error); see loadtests/traffic.py and loadtests/README.md.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locust import FastHttpUser, events, task  # noqa: E402
from locust.runners import MasterRunner  # noqa: E402

from loadtests import shapes, traffic  # noqa: E402

BANK = traffic.QuestionBank.from_items(traffic.load_items(),
                                      only=traffic.user_list(os.environ.get("RAG_LOAD_USERS")))
TOKENS = traffic.tokens_for(BANK.users, os.environ.get("RAG_LOAD_TOKENS"))
WEIGHTS = traffic.user_classes_for(os.environ.get("RAG_LOAD_MIX", "mixed"))
WAIT = traffic.wait_range(os.environ.get("RAG_LOAD_WAIT", ""))
_EVENTS = traffic.events_path(os.environ.get("RAG_LOAD_EVENTS"))
SEED = traffic.seed_of(os.environ.get("RAG_LOAD_SEED"))
_spawned: dict[str, int] = {}  # users of each kind started so far by this process
_log = open(_EVENTS, "a", buffering=1) if _EVENTS else None  # noqa: SIM115 (lives with the process)


@events.quitting.add_listener
def _close_log(**_: object) -> None:
    if _log is not None:
        _log.close()


@events.init.add_listener
def _stop_workers_before_quitting(environment: Any, **_: object) -> None:
    """A distributed run's master quits at the end of ``-t`` (or of a shape) without first
    asking its workers to stop, and writes its report half a second later: the requests still
    in flight then finish after the report and are missing from it. Stopping first makes the
    master wait (``--stop-timeout``) for the workers to finish and send their last stats."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        quit_now = runner.quit

        def stop_then_quit() -> None:
            runner.stop()
            quit_now()

        runner.quit = stop_then_quit  # type: ignore[method-assign]


class GoldenUser(FastHttpUser):
    """One golden user (JWT ``sub``) asking questions of one kind; subclasses set ``kind``."""

    abstract = True
    kind = "repeat"

    def wait_time(self) -> float:  # think time, from the user's own (seeded) random source
        return self.rng.uniform(*WAIT)

    def on_start(self) -> None:
        number = _spawned[self.kind] = _spawned.get(self.kind, 0) + 1
        worker = max(0, int(getattr(self.environment.runner, "worker_index", 0) or 0))
        self.rng = traffic.user_rng(SEED, self.kind, number, worker)
        self.user_id = self.rng.choice(BANK.users)
        self.headers = {"Authorization": f"Bearer {TOKENS[self.user_id]}"}

    @task
    def ask(self) -> None:
        question = traffic.question_for(self.kind, BANK, self.user_id, self.rng)
        started = time.time()
        with self.client.post(traffic.QUERY_PATH, json={"query": question},
                              headers=self.headers, name=traffic.request_name(self.kind),
                              catch_response=True) as resp:
            try:
                body = resp.json()
            except Exception:  # not JSON: a proxy page, a cut connection
                body = None
            status = int(resp.status_code or 0)
            outcome = traffic.classify(status, dict(resp.headers or {}), body,
                                       getattr(resp, "error", None))
            resp.request_meta["name"] = traffic.request_name(outcome.label)
            if outcome.failure:
                resp.failure(outcome.failure)
            else:
                resp.success()
        if _log is not None:
            _log.write(traffic.event_line(started, (time.time() - started) * 1000, self.kind,
                                          outcome, status) + "\n")


class RepeatHeavyUser(GoldenUser):
    """Popular golden questions again and again: mostly query-cache hits."""

    kind = "repeat"
    abstract = "repeat" not in WEIGHTS  # only the classes of RAG_LOAD_MIX run
    weight = WEIGHTS.get("repeat", 1)


class NovelUser(GoldenUser):
    """Questions nobody asked before: cache misses, so retrieval and the LLM every time."""

    kind = "novel"
    abstract = "novel" not in WEIGHTS  # only the classes of RAG_LOAD_MIX run
    weight = WEIGHTS.get("novel", 1)


class AdversarialUser(GoldenUser):
    """The golden prompt-injection, prompt-leak and cross-user probes."""

    kind = "adversarial"
    abstract = "adversarial" not in WEIGHTS  # only the classes of RAG_LOAD_MIX run
    weight = WEIGHTS.get("adversarial", 1)


if os.environ.get("RAG_LOAD_SHAPE"):
    SelectedShape = shapes.SHAPE_CLASSES[os.environ["RAG_LOAD_SHAPE"]]
