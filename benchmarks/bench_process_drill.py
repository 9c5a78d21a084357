"""Drills across processes: two ``rag-core serve --workers 2`` servers on one PostgreSQL and one
Redis, over HTTP, while Redis is frozen, killed and restarted (from its append-only file, or
empty), and while a worker or a whole server is killed (SIGKILL).

**deletes**: every note's answer is cached first; then the notes are deleted one by one through
``DELETE /v1/notes/{id}`` on the first server, each in one of the states below, while
``--askers`` threads ask random notes' questions on both servers. Figures: every delete's
status (200 expected, also while Redis is away), answers that cite a deleted note although they
were asked after its DELETE returned (0 expected), the slowest request (no request may hang on a
frozen Redis), errors by status.

- ``answering``; ``frozen`` (SIGSTOP during the delete, then SIGCONT);
- ``frozen_then_killed`` (then SIGKILL and a restart from the append-only file);
- ``server_killed`` (Redis frozen, the deleting server killed whole right after the DELETE,
  Redis thawed, the server started again);
- ``worker_killed`` (one worker of the deleting server killed right after the DELETE);
- ``partition`` (the deleting server's link to Redis cut during the DELETE and for
  ``PARTITION_S`` after it returned, through ``redis_partition.PartitionProxy``; the other
  server reaches Redis throughout, and Redis never restarts; the deleted note's question is
  asked of the other server three times as soon as the DELETE returned).

**budget**: one user with a small daily cap asks new questions of both servers (paid answers
from the mock LLM, ``--llm-latency-ms`` each, so several are in flight at once); meanwhile Redis
loses its memory (killed and restarted empty) and workers are killed mid-answer. Figure: the
day's spend in PostgreSQL against the cap (at most the cap expected).

    python benchmarks/bench_process_drill.py [--deletes 200] [--askers 3] [--json out.json]
        [--states partition,answering]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from bench_delete_drill import USERS, RedisUnderTest, note_of
from pydantic import SecretStr
from redis_partition import PartitionProxy

from rag_core.api.auth import issue_token
from rag_core.config import Settings
from rag_core.costs.ledger import today
from rag_core.ingest.ingestion import ingest_notes
from rag_core.parts import build_parts, build_store
from rag_core.procs import free_port, stop_group, wait_http, wait_until
from rag_core.services import resolve, stop_postgres

STATES = ("answering", "frozen", "frozen_then_killed", "server_killed", "worker_killed",
          "partition")
PARTITION_S = 0.5  # how long the deleting server stays cut off after its DELETE returned
TIMEOUT_S = 60.0  # a request slower than this counts as hung
SPENDER = "spender"


class Redis(RedisUnderTest):
    def restart_empty(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)
        for path in self.dir.glob("appendonly*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.events["restarted_empty"] += 1
        self.start()


class Server:
    """One ``rag-core serve --workers N`` process group on its own port."""

    def __init__(self, root: Path, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env, self.workers = env, workers
        self.log = root / f"serve-{self.port}.log"
        self.proc: Any = None
        self.kills: Counter[str] = Counter()

    def start(self) -> None:
        import subprocess

        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rag_core", "serve", "--host", "127.0.0.1", "--port",
                 str(self.port), "--workers", str(self.workers)], env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_http(f"{self.url}/readyz", 300, proc=self.proc, log=self.log)

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def kill_worker(self) -> None:
        pids = self.worker_pids()
        if pids:
            os.kill(random.choice(pids), signal.SIGKILL)  # the supervisor starts another
            self.kills["worker"] += 1

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.kills["server"] += 1

    def stop(self) -> None:
        stop_group(self.proc, 10)


class Client:
    """Requests to the servers, with the figures every drill reports."""

    def __init__(self, secret: str) -> None:
        self.settings = Settings(jwt_secret=SecretStr(secret))
        self.http = httpx.Client(timeout=TIMEOUT_S)
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.slowest = 0.0

    def call(self, method: str, url: str, user: str, body: dict[str, Any] | None = None
             ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {issue_token(self.settings, user, 3600)}"}
        started = time.monotonic()
        try:
            reply = self.http.request(method, url, headers=headers, json=body)
            status, data = reply.status_code, (reply.json() if reply.content else {})
        except httpx.TimeoutException:
            status, data = -1, {}
        except httpx.TransportError:  # a server or worker killed under the request
            status, data = 0, {}
        with self.lock:
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.statuses[f"{method} {status}"] += 1
        return status, data


def delete_drill(args: argparse.Namespace, servers: list[Server], redis_server: RedisUnderTest,
                 client: Client, notes: list[tuple[str, str, str, str]],
                 proxy: PartitionProxy) -> dict[str, Any]:
    deleted_at: dict[str, float] = {}
    states: dict[str, str] = {}
    stale: list[dict[str, Any]] = []
    counts = Counter[str]()
    lock = threading.Lock()
    done = threading.Event()

    def ask(user: str, note_id: str, marker: str, question: str,
            server: Server | None = None) -> None:
        started = time.monotonic()
        with lock:
            deleted = deleted_at.get(note_id)
        server = server or random.choice(servers)
        status, data = client.call("POST", f"{server.url}/v1/query", user, {"query": question})
        if status == 0:  # that server is down (killed, starting again): try another later
            time.sleep(0.2)
        if status != 200:
            return
        cites = (note_id in {c.get("note_id") for c in data.get("citations", [])}
                 or marker[:40] in data.get("answer", ""))
        with lock:
            counts["asks"] += 1
            if deleted is not None and started > deleted:
                counts["asks_after_delete"] += 1
                if cites:
                    stale.append({"note": note_id, "state": states.get(note_id),
                                  "server": server.port, "cache": data.get("cache", {}).get(
                                      "query"), "after_s": round(started - deleted, 3)})

    def asker(seed: int) -> None:
        rng = random.Random(seed)
        while not done.is_set():
            ask(*rng.choice(notes))

    for entry in notes:  # every answer cached under the version before its delete
        ask(*entry)
    threads = [threading.Thread(target=asker, args=(s,), daemon=True) for s in range(args.askers)]
    for t in threads:
        t.start()
    deleting = servers[0]
    delete_statuses: Counter[int] = Counter()
    for k, (user, note_id, marker, question) in enumerate(notes):
        state = args.states[k % len(args.states)]
        if state == "partition":
            proxy.cut()
        if state in ("frozen", "frozen_then_killed", "server_killed"):
            redis_server.freeze()
        states[note_id] = state
        try:
            for _ in range(20):  # a client retries a DELETE that a killed worker dropped
                status, _ = client.call("DELETE", f"{deleting.url}/v1/notes/{note_id}", user)
                delete_statuses[status] += 1
                if status != 0:
                    break
                time.sleep(0.5)
            if status == 200:
                with lock:
                    deleted_at[note_id] = time.monotonic()
                if state == "partition":  # the other server, at once, while still cut off
                    for _ in range(3):
                        ask(user, note_id, marker, question, servers[1])
        finally:
            if state == "partition":
                time.sleep(PARTITION_S)  # both servers asked meanwhile
                proxy.heal()
            if state == "server_killed":
                deleting.kill()
            if state in ("frozen", "server_killed"):
                redis_server.thaw()
            elif state == "frozen_then_killed":
                redis_server.kill_and_restart()
        if state == "server_killed":
            deleting.start()
        elif state == "worker_killed":
            deleting.kill_worker()
        ask(user, note_id, marker, question)
        if (k + 1) % 25 == 0:
            print(f"{k + 1} deletes, {counts['asks']} asks, {len(stale)} stale",
                  file=sys.stderr, flush=True)
    done.set()
    for t in threads:
        t.join(TIMEOUT_S * 2)
    return {"deletes": len(notes), "delete_statuses": dict(delete_statuses),
            "asks": counts["asks"], "asks_after_delete": counts["asks_after_delete"],
            "stale_citations": len(stale), "stale_examples": stale[:5],
            "stale_by_state": dict(Counter(str(s["state"]) for s in stale)),
            "states": list(args.states), "partitions": proxy.cuts}


def budget_drill(args: argparse.Namespace, servers: list[Server], redis_server: Redis,
                 client: Client, settings: Settings) -> dict[str, Any]:
    done = threading.Event()
    served = Counter[str]()
    lock = threading.Lock()

    questions = new_questions(args.deletes)
    taken = iter(questions)

    def spender(seed: int) -> None:
        rng = random.Random(seed)
        while not done.is_set():
            with lock:
                question = next(taken, None)
            if question is None:
                return
            status, data = client.call("POST", f"{rng.choice(servers).url}/v1/query", SPENDER,
                                       {"query": question})
            code = data.get("error", {}).get("code") if status != 200 else "answered"
            with lock:
                served[str(code or status)] += 1

    threads = [threading.Thread(target=spender, args=(s,), daemon=True)
               for s in range(args.spenders)]
    for t in threads:
        t.start()
    for round_ in range(args.budget_rounds):  # lose Redis's memory, kill workers, go on
        wanted = (round_ + 1) * 15
        wait_until(lambda: sum(served.values()) > wanted, 600, "paid answers")  # noqa: B023
        servers[round_ % len(servers)].kill_worker()
        redis_server.restart_empty()
    wait_until(lambda: served["BUDGET_EXCEEDED"] >= 20, 900, "the cap refuses requests")
    done.set()
    for t in threads:
        t.join(TIMEOUT_S * 2)
    store = build_store(settings)
    try:
        spent = store.costs.day_totals(today(), SPENDER)[0]
    finally:
        store.close()
    return {"cap_usd": args.cap, "spent_usd": round(spent, 6),
            "spent_over_cap": round(spent / args.cap, 4), "requests": dict(served),
            "redis_lost_memory": args.budget_rounds}


def new_questions(first: int) -> list[str]:
    """Questions about the spender's notes (``note_of(first ...)``), each asked once: every one
    misses the caches and is paid for."""
    things = [" ".join(note_of(k)[2].split(" the ", 1)[1].split(" to the ")[0:1])
              for k in range(first, first + 5)]
    asked = [f"{who} {verb} the {thing} {where}?"
             for who in ("Who", "Which deacon", "Tell me who", "Remind me who", "Say who")
             for verb in ("brought", "carried", "delivered", "took", "gave")
             for where in ("to the shelter", "for the shelter", "to the night shelter",
                           "over to the shelter", "to the shelter that week")
             for thing in things]
    random.Random(7).shuffle(asked)
    return asked


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="pdrill-"))
    redis_server = Redis(root)
    redis_server.start()
    settings = resolve(Settings(profile="ci", state_dir=root / "state",
                                redis_url=redis_server.url, llm="extractive"), redis=False)
    notes: list[tuple[str, str, str, str]] = []
    parts = build_parts(settings)
    try:
        by_user: dict[str, list[Any]] = {u: [] for u in (*USERS, SPENDER)}
        for k in range(args.deletes):
            note, marker, question = note_of(k)
            by_user[USERS[k % len(USERS)]].append(note)
            notes.append((USERS[k % len(USERS)], note.id, marker, question))
        by_user[SPENDER] = [note_of(k)[0] for k in range(args.deletes, args.deletes + 5)]
        for user, own in by_user.items():
            ingest_notes(parts, user, own, progress=False)
    finally:
        parts.close()
    secret = os.urandom(32).hex()
    mock_port = free_port()
    import subprocess

    mock_log = root / "mock.log"
    with open(mock_log, "ab") as log:
        mock = subprocess.Popen([sys.executable, "-m", "rag_core", "mock-llm", "--port",
                                 str(mock_port), "--latency-ms", str(args.llm_latency_ms)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    wait_http(f"http://127.0.0.1:{mock_port}/health", 60, proc=mock, log=mock_log)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "RAG_PROFILE": "ci", "RAG_STATE_DIR": str(settings.services.state_dir),
           "DATABASE_URL": str(settings.services.database_url), "REDIS_URL": redis_server.url,
           "RAG_JWT_SECRET": secret, "RAG_LLM": "hf",
           "RAG_LLM_BASE_URL": f"http://127.0.0.1:{mock_port}/v1",
           "RAG_USER_DAILY_BUDGET_USD": str(args.cap), "RAG_LOG_LEVEL": "WARNING"}
    proxy = PartitionProxy(redis_server.port, redis_server.password)  # the first server's way
    servers = [Server(root, {**env, "REDIS_URL": proxy.url}, args.workers),
               Server(root, env, args.workers)]
    client = Client(secret)
    started = time.perf_counter()
    try:
        for server in servers:
            server.start()
        result: dict[str, Any] = {"servers": len(servers), "workers_each": args.workers}
        if args.deletes:
            result["deletes"] = delete_drill(args, servers, redis_server, client, notes, proxy)
        if args.budget_rounds:
            result["budget"] = budget_drill(args, servers, redis_server, client, settings)
        result.update({"requests": dict(client.statuses),
                       "slowest_request_s": round(client.slowest, 2),
                       "redis_events": dict(redis_server.events),
                       "kills": dict(sum((s.kills for s in servers), Counter())),
                       "seconds": round(time.perf_counter() - started, 1)})
        return result
    finally:
        for server in servers:
            server.stop()
        stop_group(mock, 5)
        proxy.close()
        redis_server.stop()
        stop_postgres(settings)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deletes", type=int, default=200, help="0 skips the delete drill")
    ap.add_argument("--askers", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2, help="workers of each of the 2 servers")
    ap.add_argument("--cap", type=float, default=0.01, help="the spender's daily cap (USD)")
    ap.add_argument("--spenders", type=int, default=6, help="concurrent paid askers")
    ap.add_argument("--budget-rounds", type=int, default=3,
                    help="times Redis loses its memory in the budget drill (0 skips it)")
    ap.add_argument("--llm-latency-ms", type=int, default=800)
    ap.add_argument("--states", type=lambda v: tuple(v.split(",")), default=STATES,
                    help="the delete drill's states, taken in turn (comma-separated)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if unknown := set(args.states) - set(STATES):
        ap.error(f"unknown states: {', '.join(sorted(unknown))}")
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
