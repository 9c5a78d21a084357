"""A Redis that cannot fill: the seeds' load written into a Redis with the compose cap.

10,000 users asking 10 questions a day for a simulated week (a clock this script controls),
80 % of them new (the rest are L1 hits: nothing written). Each new question writes what the
pipeline writes after a generation, through the layers' own write code (``CacheLayers``:
``RedisCache.entry`` / ``SemanticCache.entry`` and the one write script of
``rag_core.redis_kv.writes``, the notes-version condition included) and the cost ledger's own
``reserve`` + ``commit``; no embedding, no retrieval, no generation. Entry sizes are the ones
measured through the prod app (issue 36): an answer of ~3.5 KB kept once under ``rag:stale``
(``rag:query`` names it), a semantic entry (question, vector, five evidence chunks, the key of
its answer), a 384-float question vector (1.5 KB). ``--worst-case``: every answer as large as
the write paths allow it to be at ``top_k`` 50 (50 rows from 50 notes, each with a 200-character
id and a 300-character title; a 1,000-character question; a 1,600-character answer; five
evidence chunks of 1,000 characters), in the compact form and under the byte limit of
``rag_core.cache.answer_codec``, as ``AnswerLayer.put`` keeps it; and the last
``--free-share`` of each day's new questions (0.2 with ``--worst-case``) are free answers
("nothing in your notes", as ``AnswerLayer.put_no_context`` keeps them: one L1 entry, no body,
no ledger write), each as large as ``answer_codec.MAX_FREE_ANSWER_BYTES`` lets a free answer be
kept, so that the day ends with the query layer full of free answers beside a stale layer full
of the largest paid ones. Writes are
pipelined, 500 questions a round trip, by ``--workers`` processes (default 2, each its own
connection, as app processes are) that take the day's batches in order: while Redis runs one
batch's scripts, the next one is being packed.

Redis is a real ``redis-server`` started as compose runs it (``--maxmemory 512mb
--maxmemory-policy noeviction``). Entries expire on the simulated clock: the write script drops
the lines whose (simulated) time has passed; the ledger's day keys older than its TTL are
dropped at each new simulated day (what their real TTL does). The last line is JSON:
``users``, ``simulated_days``, ``maxmemory_bytes``, ``peak_used_memory_bytes``, ``entries`` per
layer, ``cache_writes_refused``, ``ledger_writes_refused``, and ``bytes_per_entry`` per layer
(``MEMORY USAGE`` of a sample; the sizing table of docs/scaling.md is made from it),
``free_share`` and ``free_answer_rows`` (the retrieved rows of the largest free answer kept).

    python benchmarks/bench_redis_capacity.py [--users 10000] [--days 7] [--per-day 10]
        [--max-entries N] [--workers 2] [--worst-case] [--free-share F] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from capacity_payloads import Payloads  # beside this script

from rag_core.cache import answer_codec
from rag_core.cache.layers import CacheLayers
from rag_core.config import Retrieval, Settings, fixed
from rag_core.costs.ledger import CostLedger
from rag_core.costs.totals import KEY_TTL_S
from rag_core.parts import build_caches, build_ledger, build_semantic_judge
from rag_core.procs import free_port
from rag_core.redis_kv import codec
from rag_core.redis_kv.client import REDIS_ERRORS, connect
from rag_core.redis_kv.keys import (
    cost_keys,
    embedding_key,
    layer_index,
    notes_version_key,
    rename_layer,
)
from rag_core.redis_kv.writes import Condition
from rag_core.services import new_password, password_url, spawn_redis

DAY_S = 86_400
START = 1_800_000_000.0  # the simulated clock's first second (a fixed, later date)
BATCH = 500
LAYERS = ("query", "stale", "semantic", "embedding")
Task = tuple[str, float, float, int, list[tuple[str, bool] | None]]


class SimClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="rcap-"))
    port = free_port()
    password = new_password()  # on TCP: closed to other accounts by a password
    proc = spawn_redis(tmp / "redis", port, persist=False, password=password, extra=[
        "--maxmemory", args.maxmemory, "--maxmemory-policy", "noeviction"])
    try:
        return _load(args, password_url(port, password), tmp)
    finally:
        proc.kill()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def _settings(args: argparse.Namespace, url: str, tmp: Path) -> Settings:
    overrides: dict[str, Any] = {"profile": "prod", "redis_url": url, "state_dir": tmp / "state",
                                 "jwt_secret": "b" * 64, "database_url": "postgresql://unused"}
    if args.max_entries:
        overrides["cache_max_entries"] = args.max_entries
    return Settings(**overrides)


class LoadWriter:
    """One process's share of the load: its own connection, layers, ledger and clock."""

    def __init__(self, args: argparse.Namespace, url: str, tmp: Path) -> None:
        self.settings = settings = _settings(args, url, tmp)
        self.clock = clock = SimClock()
        self.client = client = connect(url, timeout_s=30.0)
        self.caches = build_caches(settings, client, build_semantic_judge(settings), clock=clock)
        self.ledger = LedgerLoad(build_ledger(settings, self.client, None), settings)
        self.params = settings.retrieval
        self.payloads = Payloads(worst=args.worst_case)
        dim = settings.embedding.embedding_dim
        self.vectors = np.random.default_rng(3).standard_normal((64, dim), dtype=np.float32)

    def batch(self, task: Task) -> tuple[int, int, int]:
        """One pipeline of new questions (``task``: day name, first time, time step, number
        of the first question, its users and whether each answer is free, None for an L1
        hit). Returns the refused cache
        and ledger writes and Redis's ``used_memory`` after it."""
        day, first, step, number, users = task
        pipe = self.client.pipeline(transaction=False)
        kinds: list[str] = []
        for k, asked in enumerate(users):
            if asked is None:
                continue  # asked before: an L1 hit writes nothing
            user, free = asked
            self.clock.now = first + k * step
            _queue_question(self.caches, self.settings, self.params, self.payloads,
                            self.vectors, pipe, user, number + k, self.clock.now, free)
            kinds += ["cache", "cache"]
            if not free:  # a free answer reserves nothing
                self.ledger.pay(pipe, day, user)
                kinds += ["ledger", "ledger"]
        refused = {"cache": 0, "ledger": 0}
        for kind, result in zip(kinds, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(result, Exception) or (kind == "ledger" and LedgerLoad.refused(result)):
                refused[kind] += 1
        return refused["cache"], refused["ledger"], int(self.client.info("memory")["used_memory"])


_worker: LoadWriter | None = None


def _start_worker(args: argparse.Namespace, url: str, tmp: Path) -> None:
    global _worker
    _worker = LoadWriter(args, url, tmp)


def _run_batch(task: Task) -> tuple[int, int, int]:
    assert _worker is not None
    return _worker.batch(task)


def _load(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    main = LoadWriter(args, url, tmp)
    settings, client, caches = main.settings, main.client, main.caches
    users = [f"user-{n:05d}" for n in range(args.users)]
    for user in users:  # every user's notes version, as the first lookup leaves it
        caches.versions.set(notes_version_key(user), b"1", 10 * 365 * DAY_S)
    maxmemory = int(str(client.config_get("maxmemory")["maxmemory"]))
    peak = 0
    refused = {"cache": 0, "ledger": 0}
    questions = 0
    started = time.perf_counter()
    per_day = args.users * args.per_day
    step = DAY_S / per_day
    rng = random.Random(11)
    # Batches go to the worker processes in order (one at a time each): concurrent batches are
    # minutes apart on the simulated clock, as several app processes would write them.
    pool = multiprocessing.get_context("fork").Pool(args.workers, _start_worker,
                                                    (args, url, tmp))
    try:
        for d in range(args.days):
            day = time.strftime("%Y-%m-%d", time.gmtime(START + d * DAY_S))
            _expire_ledger_days(client, START + d * DAY_S, KEY_TTL_S, users)
            pipe = client.pipeline(transaction=False)
            for user in users:
                main.ledger.seed(pipe, day, user)
            refused["ledger"] += sum(isinstance(r, Exception)
                                     for r in pipe.execute(raise_on_error=False))
            order = [u for u in users for _ in range(args.per_day)]
            rng.shuffle(order)
            asked = _free_last([u if rng.random() < args.new_share else None for u in order],
                               args.free_share)
            tasks = [(day, START + d * DAY_S + start * step, step, questions + start + 1,
                      asked[start:start + BATCH]) for start in range(0, len(asked), BATCH)]
            for cache, ledger, used in pool.imap(_run_batch, tasks):
                refused["cache"] += cache
                refused["ledger"] += ledger
                peak = max(peak, used)
            questions += len(order)
            print(f"day {d + 1}: {questions} questions, used {peak / 2**20:.0f} MiB peak, "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        pool.close()
        pool.join()
    now = START + args.days * DAY_S - step
    info = client.info("memory")
    peak = max(peak, int(info["used_memory_peak"]))
    entries = {layer: int(client.zcount(layer_index(layer), f"({now}", "+inf"))
               for layer in LAYERS}
    return {"users": args.users, "simulated_days": args.days, "questions": questions,
            "new_share": args.new_share, "cache_max_entries": settings.caches.cache_max_entries,
            "maxmemory_bytes": maxmemory, "peak_used_memory_bytes": peak,
            "used_memory_bytes": int(info["used_memory"]), "entries": entries,
            "bytes_per_entry": _bytes_per_entry(client),
            "cache_writes_refused": refused["cache"], "ledger_writes_refused": refused["ledger"],
            "seconds": round(time.perf_counter() - started, 1), "cpu_seconds": _cpu(client),
            "workers": args.workers, "worst_case": args.worst_case,
            "free_share": args.free_share, "free_answer_rows": _free_rows(main, users[-1]),
            "answer_bytes": _answer_bytes(client)}


def _free_last(asked: list[str | None], share: float) -> list[tuple[str, bool] | None]:
    """The day's new questions, the last ``share`` of them free ("nothing in your notes"):
    the day ends with the query layer full of free answers while the stale layer holds the
    paid ones (the worst case of both)."""
    new = [k for k, user in enumerate(asked) if user is not None]
    free = set(new[len(new) - int(len(new) * share):]) if share > 0 else set()
    return [(user, k in free) if user is not None else None for k, user in enumerate(asked)]


def _queue_question(caches: CacheLayers, settings: Settings, params: Retrieval,
                    payloads: Payloads, vectors: np.ndarray, pipe: Any, user: str, n: int,
                    now: float, free: bool = False) -> None:
    question = payloads.question(n)
    vector = codec.pack_vector(vectors[n % 64])
    query = caches.query
    assert hasattr(query, "entry") and hasattr(query, "writer")
    query.writer.write([caches.embedding.entry(  # type: ignore[attr-defined]
        embedding_key(settings.embedding, user, question), vector,
        settings.caches.embedding_cache_ttl_s)],
        now, pipe=pipe)
    key = caches.answers.key(params, user, 1, question, settings.retrieval.top_k)
    version_key = notes_version_key(user)
    if free:  # as AnswerLayer.put_no_context: one write, within the free answers' limit
        _, _, rows, ttl = _free_fit(query, key, question, n, payloads,
                                    settings.caches.query_cache_ttl_s)
        query.writer.write([query.entry(key, payloads.free_answer(question, n, rows), ttl)],
                           now, Condition(version_key, b"1"), pipe=pipe)
        return
    answer = payloads.answer(question, n)
    twin = rename_layer(key, "query", "stale")
    semantic_value, line = payloads.semantic(question, vector, twin, now,
                                             settings.caches.query_cache_ttl_s, n)
    layer = caches.semantic.layer
    assert layer is not None
    scope = caches.semantic.scope(user, 1)
    # as AnswerLayer.put: the body once (stale), the L1 key naming it, within the limit
    kept = answer_codec.fitting(
        [(query, key, answer_codec.IN_STALE, settings.caches.query_cache_ttl_s),
         (caches.stale, twin, answer, fixed.STALE_TTL_S)],
        layer.entry(scope, semantic_value, settings.caches.query_cache_ttl_s, field=f"{n:016x}",
                    line=line))
    assert kept is not None, "an answer over the byte limit: not kept by the layers"
    puts = [cache.entry(k, v, ttl) for cache, k, v, ttl in kept[0]] + \
        ([kept[1]] if kept[1] is not None else [])
    query.writer.write(puts, now, Condition(version_key, b"1"), pipe=pipe)


def _free_rows(writer: LoadWriter, user: str) -> int:
    """How many retrieved rows the largest free answer the layers keep lists (the workers
    found the same, each on its own)."""
    settings, n = writer.settings, 1
    question = writer.payloads.question(n)
    key = writer.caches.answers.key(writer.params, user, 1, question, settings.retrieval.top_k)
    return _free_fit(writer.caches.query, key, question, n, writer.payloads,
                     settings.caches.query_cache_ttl_s)[2]


def _free_fit(query: Any, key: str, question: str, n: int, payloads: Payloads,
              ttl: int) -> tuple[Any, str, int, int]:
    """The most retrieved rows (from ``payloads.free_rows`` down) with which a free answer
    is kept (``answer_codec.MAX_FREE_ANSWER_BYTES``): the largest free answer the layers
    keep."""
    while payloads.free_rows > 0 and answer_codec.fitting(
            [(query, key, payloads.free_answer(question, n, payloads.free_rows), ttl)], None,
            answer_codec.MAX_FREE_ANSWER_BYTES) is None:
        payloads.free_rows -= 1
    return query, key, payloads.free_rows, ttl


class LedgerLoad:
    """The cost ledger's own scripts (``CostLedger``'s RESERVE, SEED, COMMIT: what
    ``reserve`` and ``commit`` run), queued on the batch's pipeline: a day key is seeded at the
    day's start, then every generation reserves its worst case and commits its cost."""

    ESTIMATE, ACTUAL = 0.0006, 0.0003

    def __init__(self, ledger: CostLedger, settings: Settings) -> None:
        assert ledger.totals is not None, "the ledger needs its Redis"
        self.scripts = ledger.totals._scripts
        self.caps = (settings.money.user_daily_budget_usd, settings.money.global_daily_budget_usd)
        self.reserves = 0

    def seed(self, pipe: Any, day: str, user: str) -> None:
        self.scripts["SEED"](keys=list(cost_keys(day, user)),
                             args=[0.0, 0.0, KEY_TTL_S, "1", 0.0, 0.0], client=pipe)

    def pay(self, pipe: Any, day: str, user: str) -> None:
        keys = list(cost_keys(day, user))
        self.scripts["RESERVE"](keys=keys, args=[repr(self.ESTIMATE), repr(self.caps[0]),
                                                 repr(self.caps[1]), KEY_TTL_S, "1"],
                                client=pipe)
        self.scripts["COMMIT"](keys=keys, args=[repr(self.ESTIMATE), repr(self.ACTUAL), 1,
                                                1_450, 180], client=pipe)

    @staticmethod
    def refused(result: Any) -> bool:
        """A RESERVE that did not admit (a seeded key under its caps always does)."""
        return isinstance(result, list) and int(result[0]) != 1


def _expire_ledger_days(client: Any, now: float, ttl_s: int, users: list[str]) -> None:
    """The ledger's day keys whose TTL has passed on the simulated clock."""
    old = time.strftime("%Y-%m-%d", time.gmtime(now - ttl_s - DAY_S))
    try:
        pipe = client.pipeline(transaction=False)
        for user in users:
            pipe.unlink(*cost_keys(old, user))
        pipe.execute()
    except REDIS_ERRORS:
        pass


def _cpu(client: Any) -> dict[str, float]:
    """CPU seconds spent by this process and its finished workers, and by the Redis server
    (``INFO cpu``; the server is still running, so it is not among the children counted)."""
    own = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = client.info("cpu")
    return {"benchmark": round(sum(r.ru_utime + r.ru_stime for r in own), 1),
            "redis": round(float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), 1)}


def _bytes_per_entry(client: Any) -> dict[str, int]:
    """``MEMORY USAGE`` of up to 200 entries per layer, with their index line, averaged."""
    out: dict[str, int] = {}
    for layer in LAYERS:
        members = client.zrange(layer_index(layer), -200, -1)
        sizes = []
        for member in members:
            key, _, field = member.partition(b"\n")
            usage = client.memory_usage(key) or 0
            if field:  # a semantic scope: its hash and the line hash, per field
                fields = max(1, int(client.hlen(key)))
                usage = (usage + (client.memory_usage(key + b":idx") or 0)) / fields
            sizes.append(usage + len(member) + 32)  # the index line: member + score + node
        out[layer] = int(sum(sizes) / len(sizes)) if sizes else 0
    return out


def _answer_bytes(client: Any, sample: int = 200) -> int:
    """``MEMORY USAGE`` of the newest answers' L1 keys and stale bodies, averaged, plus a
    semantic field's and an embedding's share: one question's bytes (index lines excluded)."""
    keys = client.zrange(layer_index("query"), -sample, -1)
    total = sum((client.memory_usage(k) or 0) + (client.memory_usage(
        k.replace(b"rag:query:", b"rag:stale:", 1)) or 0) for k in keys)
    per = _bytes_per_entry(client)
    return int(total / max(1, len(keys))) + per["semantic"] + per["embedding"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--per-day", type=int, default=10)
    ap.add_argument("--new-share", type=float, default=0.8)
    ap.add_argument("--max-entries", type=int, default=0,
                    help="RAG_CACHE_MAX_ENTRIES (default: the Settings default)")
    ap.add_argument("--maxmemory", default="512mb")
    ap.add_argument("--workers", type=int, default=2,
                    help="processes writing batches side by side (each its own connection)")
    ap.add_argument("--worst-case", action="store_true",
                    help="every answer as large as the write paths allow at top_k 50")
    ap.add_argument("--free-share", type=float, default=None,
                    help="share of each day's new questions answered 'nothing in your notes' "
                         "(free, the last ones of the day; default 0.2 with --worst-case, else 0)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.free_share is None:
        args.free_share = 0.2 if args.worst_case else 0.0
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
