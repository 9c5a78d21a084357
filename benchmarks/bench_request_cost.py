"""CPU milliseconds per request of the app on the load stack, by request kind and by step
(figures, not a test): what one question costs the two cores that the 1,000-user peak needs.

    python benchmarks/bench_request_cost.py [--workers 1] [--concurrency 16] [--hits 300]
        [--misses 64] [--repeats 3] [--mock-latency-ms 3500] [--no-profile]

The stack is the load test's (``evals.load.stack.running_stack``: embedded PostgreSQL and
Redis, the golden notes, the mock LLM at ``--mock-latency-ms``, ``rag-core serve --workers N``
with the request limits off). Requests go from this process, ``--concurrency`` at a time,
one kind per batch, the kinds in turn in every repeat:

- ``healthz``: ``GET /healthz``, the floor of any request (HTTP server, ASGI, middleware);
- ``miss``: a question not asked before, as the load test's novel users ask them
  (``traffic.novel_question``): embedding, retrieval, the no-context decision, the mock LLM's
  answer, the output guard, the caches' writes, the ledger;
- ``exact hit``: the same questions again (an L1 answer);
- ``attack question``: the golden attack questions (the safety checks refuse them or the
  notes do not answer them);
- ``semantic hit``: a cached question with a comma added (``reworded``), which the exact key
  misses and the semantic cache's strict canonical form does not.

Before the batches, ``--warm-up`` novel questions are asked and the answer caches emptied: the
processes' memos of the notes (their facts, the guarded chunks) are then as warm as in a long
run, and what a new question costs is what is left. Each answer's ``cache.query`` says what it
was; a batch counts the kind it got. The CPU of
the app's processes (user + system, from /proc) over a batch divided by its requests is the
cost per request. With py-spy installed (``pip install py-spy``) each batch is also sampled
(``py-spy record --subprocesses --nonblocking``, idle threads left out) and its CPU is split
by the innermost step or library of each sample (``request_cost_stacks.BUCKETS``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from request_cost_stacks import buckets, steps  # noqa: E402

from evals.load.stack import LoadConfig, clear_user_caches, running_stack  # noqa: E402
from loadtests import traffic  # noqa: E402

KINDS = ("healthz", "exact hit", "semantic hit", "attack question", "miss")


def reworded(question: str, n: int) -> str:
    """``question`` with a comma after its ``n``-th word (counted from 1, wrapping): another
    exact key (L1 misses it), the same canonical form and nearly the same vector, so the
    semantic cache may serve the cached answer of ``question``."""
    words = question.split()
    at = 1 + (n - 1) % max(1, len(words) - 2)
    return " ".join([*words[:at - 1], words[at - 1] + ",", *words[at:]])


@dataclass
class Batch:
    kind: str
    requests: int
    cpu_ms: float  # the app's CPU over the batch
    wall_s: float
    got: Counter[str] = field(default_factory=Counter)  # cache.query of the answers
    samples: Counter[str] = field(default_factory=Counter)  # py-spy samples per bucket
    by_step: Counter[str] = field(default_factory=Counter)  # py-spy samples per step

    @property
    def per_request_ms(self) -> float:
        return self.cpu_ms / max(1, self.requests)


def app_cpu_ms(pid: int) -> float:
    root = psutil.Process(pid)
    total = 0.0
    for proc in (root, *root.children(recursive=True)):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total * 1000


async def _send(client: httpx.AsyncClient, kind: str, question: str, token: str,
                got: Counter[str]) -> None:
    if kind == "healthz":
        (await client.get("/healthz")).raise_for_status()
        got["ok"] += 1
        return
    r = await client.post(traffic.QUERY_PATH, json={"query": question},
                          headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 200:
        got[f"status {r.status_code}"] += 1
        return
    got[str(r.json().get("cache", {}).get("query", "?"))] += 1


async def _batch(url: str, kind: str, asks: Sequence[tuple[str, str]], concurrency: int,
                 got: Counter[str]) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for ask in asks:
        queue.put_nowait(ask)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            question, token = queue.get_nowait()
            await _send(client, kind, question, token, got)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


def run_batch(url: str, pid: int, kind: str, asks: Sequence[tuple[str, str]],
              concurrency: int, spy: str | None, out: Path) -> Batch:
    got: Counter[str] = Counter()
    raw = out / f"spy_{kind.replace(' ', '_')}_{time.monotonic_ns()}.txt"
    sampler = None
    if spy:
        sampler = subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--gil",
             "--rate", "250", "--format", "raw", "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches
    before, start = app_cpu_ms(pid), time.perf_counter()
    asyncio.run(_batch(url, kind, asks, concurrency, got))
    batch = Batch(kind, len(asks), app_cpu_ms(pid) - before, time.perf_counter() - start, got)
    if sampler is not None:
        sampler.send_signal(2)  # SIGINT: py-spy writes its file and exits
        try:
            sampler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sampler.kill()
        if raw.exists():
            lines = raw.read_text().splitlines()
            batch.samples, batch.by_step = buckets(lines), steps(lines)
    return batch


def novel(bank: traffic.QuestionBank, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (user, question) as the load test's novel users ask them
    (``traffic.novel_question``: two golden questions of the user joined by a random frame and
    tag), the users in turn."""
    rng = random.Random(seed)
    return [(u, traffic.novel_question(bank, u, rng))
            for u in (bank.users[i % len(bank.users)] for i in range(n))]


def adversarial(bank: traffic.QuestionBank, n: int) -> list[tuple[str, str]]:
    """``n`` (user, question) of the golden attack questions, cycled."""
    pool = [(u, q) for u in bank.users for q in bank.adversarial.get(u, [])]
    return [pool[i % len(pool)] for i in range(n)] if pool else []


def variant_config(args: argparse.Namespace, label: str, root: str, out: Path) -> LoadConfig:
    env = {"PYTHONPATH": root} if root else {}
    return LoadConfig(workers=args.workers, mock_latency_ms=args.mock_latency_ms,
                      output_dir=str(out), label=label, warm_up_requests=8,
                      state_dir=args.state_dir, extra_env=env)


def measure(args: argparse.Namespace, stacks: dict[str, dict[str, object]],
            spy: str | None, out: Path) -> dict[str, list[Batch]]:
    bank = traffic.QuestionBank.from_items(traffic.load_items())
    pool = novel(bank, args.warm_up, seed=1)
    tokens = {name: json.loads(Path(str(s["tokens"])).read_text()) for name, s in stacks.items()}
    results: dict[str, list[Batch]] = {f"{name} | {k}": [] for name in stacks for k in KINDS}
    env = stacks[next(iter(stacks))]["env"]
    state = Path(str(env["RAG_STATE_DIR"]))  # type: ignore[index]
    users = sorted(bank.users)
    for name, s in stacks.items():  # the processes' memos of the notes (their facts, the
        clear_user_caches(state, users)  # guarded chunks) as warm as in a long run
        started = time.perf_counter()
        asks = [(q, tokens[name].get(u, "")) for u, q in pool]
        asyncio.run(_batch(str(s["app_url"]), "miss", asks, args.warm_concurrency, Counter()))
        print(f"{name}: warm-up of {len(pool)} questions in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    for r in range(args.repeats):
        names = list(stacks) if r % 2 == 0 else list(stacks)[::-1]
        for name in names:
            url, pid = str(stacks[name]["app_url"]), int(str(stacks[name]["app_pid"]))
            toks = tokens[name]
            fresh = novel(bank, args.misses, seed=1000 + r)  # the same for every app
            clear_user_caches(state, users)  # each app's batches start from empty caches
            plan = {
                "miss": fresh,
                "exact hit": [fresh[i % len(fresh)] for i in range(args.hits)],
                "semantic hit": [(u, reworded(q, r + 1)) for u, q in fresh],
                "healthz": [("", "")] * args.hits,
                "attack question": adversarial(bank, args.misses),
            }
            rest = ("exact hit", "semantic hit", "attack question", "healthz")
            order = ["miss", *(rest if r % 2 == 0 else rest[::-1])]
            for kind in order:
                asks = [(q, toks.get(u, "")) for u, q in plan[kind]]
                batch = run_batch(url, pid, kind, asks, args.concurrency, spy, out)
                results[f"{name} | {kind}"].append(batch)
                print(f"repeat {r + 1} {name:>6} {kind:>12}: {batch.per_request_ms:7.2f} CPU ms"
                      f"/request, {batch.requests} in {batch.wall_s:5.1f} s, got "
                      f"{dict(batch.got)}", flush=True)
    return results


def report(results: dict[str, list[Batch]], spy: bool) -> None:
    print("\n| variant | kind | CPU ms / request, median [min-max] | requests/s of one core "
          "| answers got |")
    print("|---|---|---|---|---|")
    for key, batches in results.items():
        if not batches:
            continue
        per = [b.per_request_ms for b in batches]
        got: Counter[str] = Counter()
        for b in batches:
            got.update(b.got)
        name, kind = key.split(" | ")
        med = statistics.median(per)
        print(f"| {name} | {kind} | {med:.2f} [{min(per):.2f}-{max(per):.2f}] | "
              f"{1000 / med if med else 0:.0f} | {dict(got)} |")
    if not spy:
        return
    for title, attr in (("step of the request", "by_step"),
                        ("library or part (innermost frame)", "samples")):
        print(f"\nCPU ms per request by {title}: py-spy samples holding the GIL, as shares of "
              "the measured CPU ms per request")
        split(results, attr, title)


def split(results: dict[str, list[Batch]], attr: str, title: str) -> None:
    for key, batches in results.items():
        samples: Counter[str] = Counter()
        for b in batches:
            samples.update(getattr(b, attr))
        total = sum(samples.values())
        if not total:
            continue
        med = statistics.median(b.per_request_ms for b in batches)
        print(f"\n{key} ({total} samples, {med:.2f} ms/request)")
        print(f"| {title} | share | CPU ms / request |\n|---|---|---|")
        for bucket, n in samples.most_common():
            print(f"| {bucket} | {n / total:.1%} | {med * n / total:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--hits", type=int, default=300, help="requests per hit batch")
    parser.add_argument("--misses", type=int, default=48, help="new questions per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warm-up", type=int, default=200,
                        help="novel questions asked before the batches (not measured)")
    parser.add_argument("--warm-concurrency", type=int, default=32,
                        help="questions at once in the warm-up")
    parser.add_argument("--mock-latency-ms", type=float, default=3500.0)
    parser.add_argument("--state-dir", default="", help="default: the load test's")
    parser.add_argument("--compare", default="", metavar="DIR",
                        help="also an app from this checkout (PYTHONPATH=DIR), as 'before', "
                             "its batches alternating with this tree's")
    parser.add_argument("--no-profile", action="store_true", help="without py-spy")
    parser.add_argument("--keep", action="store_true",
                        help="keep the py-spy files and logs (their folder is printed)")
    args = parser.parse_args()
    venv_bin = str(Path(sys.executable).parent)
    spy = None if args.no_profile else (shutil.which("py-spy")
                                        or shutil.which("py-spy", path=venv_bin))
    out = Path(tempfile.mkdtemp(prefix="reqcost", dir="/tmp"))
    load = psutil.getloadavg()
    print(f"load average at start {load[0]:.1f}; request limits: off (the load stack's "
          f"RAG_*_LIMIT = 0); py-spy: {spy or 'not found, no step table'}", flush=True)
    from contextlib import ExitStack

    with ExitStack() as stack:
        stacks: dict[str, dict[str, object]] = {}
        if args.compare:
            stacks["before"] = dict(stack.enter_context(running_stack(
                variant_config(args, "before", args.compare, out), out)))
        stacks["after" if args.compare else "this"] = dict(stack.enter_context(running_stack(
            variant_config(args, "after", "", out), out)))
        results = measure(args, stacks, spy, out)
    load = psutil.getloadavg()
    print(f"\nload average at the end {load[0]:.1f}; {args.workers} uvicorn worker(s) per app, "
          f"{args.concurrency} requests in flight, mock LLM {args.mock_latency_ms:g} ms")
    report(results, spy is not None)
    if args.keep:
        print(f"py-spy files and logs kept in {out}")
    else:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
