"""Tracing's overhead counted in instructions, which the rest of the machine does not move: the
app in process, tracing off and on (``tracing_modes.Tracers``: the API's no-op tracer, and the
service's tracer exporting through the SDK's batch processor), run under valgrind's callgrind.

    python benchmarks/bench_tracing_instructions.py [--hits 100] [--misses 5] [--reps 3]
                                                    [--endpoint URL] [--json counts.json]

Wall-clock ratios on a shared two-core machine move by as much as the targets of
``bench_tracing.py`` (its control, tracing off measured twice, 0.87-1.17x at p99). Callgrind
counts the instructions the app's process runs, the same total whatever else the machine does.
Each rep asks ``--hits`` exact L1 hits, then ``--misses`` new questions, in each mode (the
modes' order alternating; one event loop and one client for the run, ``tracing_requests.Asgi``),
counting only those requests, each apart: a small library compiled
here with valgrind's ``callgrind.h`` dumps the counts before a batch (what ran before it, kept
apart), after each request, and after the flush of the batch's last spans (counted with the
batch). A dump zeroes every thread's counts after it, so the dumps add up. Besides the mean a
request, the report gives the tail of single requests (p50, p90, p99, the largest): the work a
collection or an export adds lands on one request, where a p99 sees it. Every thread of the
app's process is counted: the event loop's (the request's path), the SDK's export thread (which
encodes and sends the batches), the embedding's and the mock model's server for a miss. The
receiver is another process, not counted. A miss's count varies with its question's topic,
so each mode's turn of a rep asks the same topics in the same order (each question new); a
hit's does not. The first rep warms (its counts are reported apart). Needs ``valgrind`` and
``gcc``; about a minute of the machine per 100 hits, after a start of about three.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tracing_report import pct  # noqa: E402 (this folder, put on the path)

# Only a dump marks a count's start: callgrind's zero request clears the calling thread's
# counts alone, so a batch started with it also held what the other threads ran since the last
# dump (the first one after warming: the whole warming's lazy loads, some 7 billion).
MARKS = """#include <valgrind/callgrind.h>
void cg_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""


class Discarding(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that reads each request and answers 200 with nothing kept."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def marks(work: Path) -> Path:
    """The zero and dump marks, built with gcc against valgrind's header."""
    source = work / "marks.c"
    source.write_text(MARKS)
    built = work / "libmarks.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(built), str(source)], check=True)
    return built


def settings_of(state: str, database_url: str, redis_url: str, llm_url: str) -> Any:
    """The app's settings, the same outside callgrind (the notes written) and under it."""
    import bench_tracing as bt

    from rag_core.config import Settings

    return Settings(profile="ci", state_dir=state, jwt_secret=bt.SECRET, llm="hf",
                    llm_base_url=llm_url, llm_max_retries=0, semantic_cache_enabled=False,
                    database_url=database_url, redis_url=redis_url)


def written(settings: Any) -> None:
    """The notes the questions are about, embedded and stored outside callgrind (under it the
    embedding model runs some fifty times slower); the counted run finds them unchanged."""
    import bench_tracing as bt

    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    parts = build_parts(settings)
    try:
        parts.embedder.load()
        ingest_path(parts, "amara", bt.GOLDEN, progress=False)
    finally:
        parts.close()


def child(args: argparse.Namespace) -> None:
    """Under callgrind: the app in process, warmed, then the counted requests of each mode."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import bench_tracing as bt
    import tracing_requests as tr
    from tracing_modes import Tracers

    from rag_core import heap
    from rag_core.api.auth import issue_token
    from rag_core.app import create_app
    from rag_core.devservers.mock_server import start_mock
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    mark = ctypes.CDLL(args.marks)
    mock_url, stop_mock, _ = start_mock()
    settings = settings_of(args.state, args.database_url, args.redis_url, f"{mock_url}/v1")
    parts = build_parts(settings)
    parts.embedder.load()
    ingest_path(parts, "amara", bt.GOLDEN, progress=False)  # written before: nothing to embed
    headers = {"Authorization": f"Bearer {issue_token(settings, 'amara')}"}
    tracers = Tracers(args.endpoint)
    app = create_app(settings, parts=parts)

    async def counted(client: httpx.AsyncClient, order: list[bool | None], name: str,
                      topics: random.Random) -> None:
        """Each request's count dumped as it answers. A dump zeroes every thread's counts
        after it, so what runs between two requests (an export, a collection) falls in
        the next one's count, and what ran before the batch in the ``gap-`` dump."""
        mark.cg_dump(f"gap-{name}".encode())
        for n, miss in enumerate(order):
            r = await client.post("/v1/query", json={"query": tr.question(miss, topics)},
                                  headers=headers)
            mark.cg_dump(f"{name}-{n}".encode())
            tr.checked(r, miss)

    with tr.Asgi(app, headers) as ask:  # one loop and one client throughout, as served
        for mode in ("on", "off"):  # every path taken once
            tracers.use(mode)
            ask([None])
            ask(tr.plan(2, 5))
        tracers.flush()
        heap.settle()  # as a served worker is once ready
        for rep in range(args.reps):
            for mode in ("off", "on") if rep % 2 == 0 else ("on", "off"):
                tracers.use(mode)
                for kind, count in (("hit", args.hits), ("miss", args.misses)):
                    order: list[bool | None] = [kind == "miss"] * count
                    # a miss's count varies with its topic: each mode's turn asks the same ones
                    ask.run(counted(ask.client, order, f"{mode}-{kind}-{rep}",
                                    random.Random(rep)))
                    tracers.flush()  # the batch's last spans sent: counted with the batch
                    mark.cg_dump(f"flush-{mode}-{kind}-{rep}".encode())
    parts.close()
    stop_mock()


def counts(folder: Path) -> dict[str, int]:
    """Each dump's instructions (every thread of the app's process) by its name,
    ``mode-kind-rep-request``; each file is read once and removed (a batch of a few hundred
    dumps would otherwise hold a few hundred megabytes)."""
    found: dict[str, int] = {}
    for path in folder.glob("cg.out.*"):
        text = path.read_text(errors="replace")
        name = re.search(r"^desc: Trigger: Client Request: (\S+)$", text, re.M)
        total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if name and total:
            found[name.group(1)] = int(total.group(1))
            path.unlink()
    return found


def each(found: dict[str, int], mode: str, kind: str, rep: int) -> list[int]:
    """One batch's counts, a request each, in the order they were asked."""
    named = {int(name.rsplit("-", 1)[1]): n for name, n in found.items()
             if name.startswith(f"{mode}-{kind}-{rep}-")}
    return [named[n] for n in sorted(named)]


def figures(found: dict[str, int], mode: str, kind: str, reps: range) -> dict[str, Any]:
    """One mode's and kind's figures over ``reps``: the mean a request of each rep (its
    requests and the flush of its last spans, over its requests) and their median; the flush's
    share; the tail of single requests pooled over the reps (p50, p90, p99, the largest)."""
    batches = {rep: one for rep in reps if (one := each(found, mode, kind, rep))}
    flushed = {rep: found.get(f"flush-{mode}-{kind}-{rep}", 0) for rep in batches}
    pooled = [n for one in batches.values() for n in one]
    per = [(sum(one) + flushed[rep]) / len(one) for rep, one in batches.items()]
    return {"per_rep": per, "mean": statistics.median(per) if per else float("nan"),
            "flush": statistics.median(flushed[rep] / len(one) for rep, one in batches.items())
            if batches else float("nan"), "n": len(pooled),
            "tail": [pct(pooled, q) for q in (50, 90, 99)] + [max(pooled)] if pooled else []}


def report(found: dict[str, int], args: argparse.Namespace) -> None:
    """Per kind and mode, ``figures`` and on/off of each. Rep 0 warms: its mean, first
    requests and what ran before it are shown apart."""
    print(f"instructions a request (callgrind, every thread of the app's process), "
          f"{args.reps - 1} counted reps of {args.hits} hits and {args.misses} misses in each "
          "mode, each request counted apart; rep 0 warms and is shown apart")
    for kind in ("hit", "miss"):
        got = {mode: figures(found, mode, kind, range(1, args.reps)) for mode in ("off", "on")}
        if not all(one["n"] for one in got.values()):
            print(f"  {kind:4}: no counts")
            continue
        for mode, one in got.items():
            first = each(found, mode, kind, 0)
            gap = found.get(f"gap-{mode}-{kind}-0", 0)
            print(f"  {kind:4} {mode:3}: mean {one['mean'] / 1e3:9.1f} k (reps: "
                  + ", ".join(f"{n / 1e3:.1f}" for n in one["per_rep"])
                  + f"; the flush {one['flush'] / 1e3:.1f} of it); single requests "
                  + "p50 {:.1f} k, p90 {:.1f} k, p99 {:.1f} k, largest {:.1f} k".format(
                      *(t / 1e3 for t in one["tail"])) + f" (n={one['n']})"
                  + (f"; rep 0 mean {sum(first) / len(first) / 1e3:.1f} k, its first "
                     + ", ".join(f"{n / 1e3:.1f}" for n in first[:3])
                     + f" k, before it {gap / 1e6:.1f} M" if first else ""))
        on, off = got["on"], got["off"]
        ratios = [a / b for a, b in zip(on["tail"], off["tail"], strict=True)]
        print(f"  {kind:4} on/off mean {on['mean'] / off['mean']:.4f} "
              f"(+{(on['mean'] - off['mean']) / 1e3:.1f} k a request); single requests p50 "
              f"{ratios[0]:.4f}, p90 {ratios[1]:.4f}, p99 {ratios[2]:.4f}, largest "
              f"{ratios[3]:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--misses", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3, help="counted reps after the first")
    parser.add_argument("--endpoint", help="an OTLP/HTTP receiver (default: one started here "
                                           "that discards what it reads)")
    parser.add_argument("--json", type=Path, help="also write every dump's counts here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--marks", "--state", "--database-url", "--redis-url"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    args.reps += 1  # rep 0 warms
    for tool in ("valgrind", "gcc"):
        if not shutil.which(tool):
            raise SystemExit(f"needs `{tool}` on the PATH")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rag_core import services
    from rag_core.config import Settings

    work = Path(tempfile.mkdtemp(prefix="ragti", dir="/tmp"))
    settings = services.resolve(Settings(profile="ci", state_dir=str(work / "state")))
    written(settings_of(str(work / "state"), settings.services.database_url,
                        settings.services.redis_url, "http://127.0.0.1:9/v1"))
    server = None
    endpoint = args.endpoint
    if not endpoint:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Discarding)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        command = ["valgrind", "--tool=callgrind", "--dump-line=no",
                   f"--callgrind-out-file={work}/cg.out.%p",
                   sys.executable, str(Path(__file__).resolve()), "--child",
                   "--hits", str(args.hits), "--misses", str(args.misses),
                   "--reps", str(args.reps), "--endpoint", endpoint,
                   "--marks", str(marks(work)), "--state", str(work / "state"),
                   "--database-url", settings.services.database_url,
                   "--redis-url", settings.services.redis_url]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"the counted run failed:\n{done.stderr[-3000:]}")
        found = counts(work)
        report(found, args)
        if args.json:
            args.json.write_text(json.dumps(found))
    finally:
        if server:
            server.shutdown()
        services.stop_all(settings.with_overrides(database_url=None, redis_url=None))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
