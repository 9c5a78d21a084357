"""Cached answers of one user while another user writes large notes (figures, not a test).

A real ``rag-core serve`` (one worker, the embedded services, the ci profile) with the golden
notes of ``reader`` and one of their questions cached. Each round measures ``--requests``
cached answers (``POST /v1/query``, an L1 hit) on an idle server, then as many while
``--writers`` threads of the user ``writer`` each PUT a note of ``--note-kb`` KB (or POST it
to ``/v1/notes:bulk`` with ``--bulk``; written synchronously: searchable when the request
returns; at most CPUs-1 embed at once, on threads of a lower priority than serving,
``rag_core.ingest.embed_slots``). It prints, per round and as medians over ``--rounds``, the
p50 and p99 of the cached answers idle and during the writes, and how long the PUTs took.

    python benchmarks/bench_write_isolation.py [--rounds 3] [--requests 200] [--writers 3]
        [--note-kb 100] [--bulk]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from rag_core.config import Settings
from rag_core.procs import free_port, wait_http

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-write-isolation-secret-5f0c2a9e71d84b3c8e6a4d2b1f9e7c3a"
QUESTION = "Who rebuilt the wall of Jerusalem?"
SENTENCES = ["Nehemiah prayed before he spoke to the king about the wall.",
             "The people of Jerusalem rebuilt the gates in fifty-two days.",
             "Grace meets us in the ruins and calls us to build again.",
             "Abraham left Haran without knowing where he was going."]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cached(client: httpx.Client, headers: dict[str, str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        r = client.post("/v1/query", json={"query": QUESTION}, headers=headers)
        out.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200 and r.json()["cache"]["query"] == "hit", r.text
    return out


def note(kb: int, tag: str) -> dict[str, str]:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < kb * 1024:
        words.append(SENTENCES[len(words) % len(SENTENCES)] + f" ({tag} {len(words)})")
    return {"title": f"A long note {tag}", "body": " ".join(words)}


def one_round(url: str, reader: dict[str, str], writer: dict[str, str], args: Any,
              n: int) -> dict[str, float]:
    with httpx.Client(base_url=url, timeout=600) as client:
        idle = cached(client, reader, args.requests)
        seconds: list[float] = []

        def put(k: int) -> None:
            start = time.perf_counter()
            body = note(args.note_kb, f"{n}-{k}")
            with httpx.Client(base_url=url, timeout=1800) as own:
                r = (own.post("/v1/notes:bulk", json={"notes": [{**body, "id": f"long-{n}-{k}"}]},
                              headers=writer) if args.bulk else
                     own.put(f"/v1/notes/long-{n}-{k}", json=body, headers=writer))
            assert r.status_code == 200, r.text
            seconds.append(time.perf_counter() - start)

        threads = [threading.Thread(target=put, args=(k,)) for k in range(args.writers)]
        for t in threads:
            t.start()
        busy: list[float] = []
        while any(t.is_alive() for t in threads):
            busy += cached(client, reader, 20)
        for t in threads:
            t.join()
    return {"idle_p50_ms": pct(idle, 0.5), "idle_p99_ms": pct(idle, 0.99),
            "writing_p50_ms": pct(busy, 0.5), "writing_p99_ms": pct(busy, 0.99),
            "cached_during_writes": len(busy), "put_seconds_max": max(seconds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--writers", type=int, default=3)
    ap.add_argument("--note-kb", type=int, default=100)
    ap.add_argument("--bulk", action="store_true",
                    help="write each note through POST /v1/notes:bulk instead of PUT")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rag_core import services
    from rag_core.api.auth import issue_token
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    state = Path(tempfile.mkdtemp(prefix="ragwi", dir="/tmp"))
    settings = services.resolve(Settings(profile="ci", state_dir=state, jwt_secret=SECRET))
    parts = build_parts(settings)
    ingest_path(parts, "reader", ROOT / "golden" / "notes" / "amara", progress=False)
    parts.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"DATABASE_URL": str(settings.services.database_url),
                "REDIS_URL": str(settings.services.redis_url),
                "RAG_PROFILE": "ci", "RAG_JWT_SECRET": SECRET, "RAG_STATE_DIR": str(state)})
    log_path = state / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "rag_core", "serve", "--host",
                                 "127.0.0.1", "--port", str(port), "--workers", "1"], env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/readyz", 180, proc=proc, log=log_path)
        reader = {"Authorization": f"Bearer {issue_token(settings, 'reader')}"}
        writer = {"Authorization": f"Bearer {issue_token(settings, 'writer')}"}
        with httpx.Client(base_url=url, timeout=120) as client:
            client.post("/v1/query", json={"query": QUESTION}, headers=reader)
            cached(client, reader, 20)  # warm
        rounds = [one_round(url, reader, writer, args, n) for n in range(args.rounds)]
        for r in rounds:
            print(json.dumps(r), file=sys.stderr)
        print(json.dumps({"rounds": args.rounds, "writers": args.writers,
                          "note_kb": args.note_kb, "route": "bulk" if args.bulk else "put",
                          "cpus": len(os.sched_getaffinity(0)),
                          **{f"median_{k}": round(statistics.median(r[k] for r in rounds), 1)
                             for k in rounds[0]}}))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        services.stop_all(settings.with_overrides(database_url=None, redis_url=None))
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
