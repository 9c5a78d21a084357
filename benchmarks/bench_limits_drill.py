"""The request limits across servers (issue 61): two ``rag-core serve --workers 2`` servers on
one PostgreSQL and one Redis, the ``prod`` profile (10 questions a minute per user, 100 an hour,
500 a day), ``RAG_MAX_CONCURRENT_QUERIES`` lowered to ``--cap`` (4) so that a short drill reaches
it, the mock LLM at ``--llm-latency-ms`` (1,000) per answer. A drill, not a test.

- **one user, both servers**: a user with no notes sends 30 questions in a row, alternately to
  each server (well inside a minute). Expected: exactly 10 answered, 20 refused 429
  ``RATE_LIMITED`` (limit ``minute``).
- **the global cap across servers**: the four golden users send new questions from
  ``--clients`` (16) concurrent clients, spread over both servers, for ``--seconds`` (15);
  meanwhile both servers' ``/metrics`` are read every 50 ms (at the same moment) and the places
  in flight in Redis every 20 ms. Expected: neither the sum of the servers'
  ``rate_limit_in_flight`` gauges nor Redis's count ever above the cap; the rest waits in the
  fair queue or gets 503 ``OVERLOADED`` (or 429 when a user's own limits refuse).

    python benchmarks/bench_limits_drill.py [--cap 4] [--clients 16] [--seconds 15] [--json out]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import redis
from pydantic import SecretStr

from evals.load import limits
from evals.load.stack import LoadConfig, running_stack, spawn, stop
from loadtests import traffic
from rag_core import services
from rag_core.api.auth import issue_token
from rag_core.config import Settings
from rag_core.procs import free_port, wait_http
from rag_core.redis_kv import keys

GAUGE = re.compile(r"^rate_limit_in_flight (\S+)$", re.M)


def _code(r: httpx.Response) -> str:
    try:
        error = r.json().get("error") or {}
    except ValueError:
        return f"HTTP {r.status_code}"
    return f"{r.status_code} {error.get('code', '')} {error.get('limit', '')}".strip()


def one_user(urls: list[str], token: str) -> Counter[str]:
    seen: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=60) as client:
        for n in range(30):
            r = client.post(f"{urls[n % 2]}/v1/query", headers=headers,
                            json={"query": f"What did the drill say, question {n}?"})
            seen["200" if r.status_code == 200 else _code(r)] += 1
    return seen


def in_flight(client: httpx.Client, url: str, token: str) -> float:
    text = client.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}).text
    found = GAUGE.search(text)
    return float(found.group(1)) if found else 0.0


def cap_drill(urls: list[str], tokens: dict[str, str], bank: traffic.QuestionBank,
              metrics_token: str, clients: int, seconds: float,
              redis_url: str) -> dict[str, object]:
    stop_at = time.monotonic() + seconds
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    seq = itertools.count()
    users = sorted(tokens)

    def ask(i: int) -> None:
        user = users[i % len(users)]
        headers = {"Authorization": f"Bearer {tokens[user]}"}
        with httpx.Client(timeout=60) as client:
            while time.monotonic() < stop_at:
                n = next(seq)
                question = f"{bank.answerable[user][n % len(bank.answerable[user])]} ({n})"
                r = client.post(f"{urls[n % 2]}/v1/query", json={"query": question},
                                headers=headers)
                with lock:
                    seen["200" if r.status_code == 200 else _code(r)] += 1
                if r.status_code != 200:
                    time.sleep(0.05)

    # both servers' gauges read at once (a barrier per tick: a place freed on one server and
    # taken on the other between two reads would otherwise count twice), and Redis's own set
    readings: list[list[float]] = [[], []]
    in_redis: list[int] = []
    tick = threading.Barrier(len(urls))

    def gauge(n: int) -> None:
        with httpx.Client(timeout=10) as client:
            try:
                while time.monotonic() < stop_at:
                    tick.wait(timeout=10)
                    readings[n].append(in_flight(client, urls[n], metrics_token))
                    time.sleep(0.05)
            except threading.BrokenBarrierError:
                pass  # the other reader has stopped
            finally:
                tick.abort()

    def redis_set() -> None:
        client = redis.Redis.from_url(redis_url)
        while time.monotonic() < stop_at:
            in_redis.append(int(client.zcount(keys.limit_in_flight(None), time.time(), "+inf")))
            time.sleep(0.02)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(clients)]
    threads += [threading.Thread(target=gauge, args=(n,)) for n in range(len(urls))]
    threads.append(threading.Thread(target=redis_set))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sums = [a + b for a, b in zip(*readings, strict=False)]
    return {"replies": dict(seen), "gauge_samples": len(sums),
            "most_in_flight_by_the_gauges": max(sums) if sums else None,
            "redis_samples": len(in_redis),
            "most_in_flight_in_redis": max(in_redis) if in_redis else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cap", type=int, default=4)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--llm-latency-ms", type=float, default=1000.0)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="limdrill", dir="/tmp"))
    env_limits = {"RAG_PROFILE": "prod", "RAG_RATE_LIMIT_PER_MINUTE": "10",
                  "RAG_RATE_LIMIT_PER_HOUR": "100", "RAG_RATE_LIMIT_PER_DAY": "500",
                  "RAG_MAX_QUERIES_PER_HOUR": "1000", "RAG_USER_MAX_IN_FLIGHT": "4",
                  "RAG_MAX_CONCURRENT_QUERIES": str(args.cap)}
    print(limits.describe(env_limits), flush=True)
    config = LoadConfig(workers=2, mock_latency_ms=args.llm_latency_ms, output_dir=str(out),
                        label="drill", extra_env=env_limits, warm_up_requests=0)
    figures: dict[str, object] = {**limits.stated(env_limits)}
    with running_stack(config, out) as stack:
        port = free_port()
        second_url = f"http://127.0.0.1:{port}"
        second = spawn([sys.executable, "-m", "rag_core", "serve", "--port", str(port),
                        "--workers", "2"], stack["env"], out / "drill_app2.log")
        try:
            wait_http(f"{second_url}/readyz", 180, proc=second, log=out / "drill_app2.log")
            urls = [stack["app_url"], second_url]
            tokens = json.loads(Path(stack["tokens"]).read_text())
            secret = SecretStr(stack["env"]["RAG_JWT_SECRET"])
            solo = issue_token(Settings(jwt_secret=secret), "drill-solo", ttl_s=3600)
            figures["one_user_30_questions"] = dict(one_user(urls, solo))
            bank = traffic.QuestionBank.from_items(traffic.load_items(qa_file=stack["qa_file"]))
            figures["cap"] = args.cap
            redis_url = services.resolve(Settings(state_dir=Path(stack["env"]["RAG_STATE_DIR"])),
                                         postgres=False).redis_url
            figures.update(cap_drill(urls, tokens, bank, stack["metrics_token"], args.clients,
                                     args.seconds, str(redis_url)))
        finally:
            stop(second)
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
