"""Benchmark of tracing's overhead (figures, not a test): the same app with tracing off (the
API's no-op tracer, ``RAG_OTEL_EXPORTER=none``) and on (the service's tracer, every span exported
over OTLP/HTTP to a local Arize Phoenix by the SDK's batch processor and exporter), in one
run, on the embedded services, the ``hf`` generator against the mock LLM.

    python benchmarks/bench_tracing.py [--rounds 6] [--misses 10] [--hits 100] [--short] [--seed 0]
                                       [--where process,served]
                                       [--modes off,again,sdk,made,on]
                                       [--endpoint http://127.0.0.1:6006] [--viewer-nice 19|idle]
                                       [--pace MS] [--settle] [--cpus APP/SIDE]
                                       [--viewer-dir /dev/shm]
                                       [--json times.json]

Two ways in, each measured in every mode (``benchmarks/tracing_modes.py``: ``off``, ``again``
the same no-op tracer once more, the control: its ratio to ``off`` is the noise alone, ``sdk``
the OpenTelemetry SDK alone (its tracer, batch processor and OTLP exporter), ``made`` the
service's spans discarded, ``on`` as the service exports):

- ``process``: the app in this process (httpx.ASGITransport, the request middleware and its
  HTTP span included). The strict figure: nothing but the app's own work is timed.
- ``served``: one uvicorn server (another process, the app as ``rag-core serve`` runs it), asked
  over loopback HTTP with a kept-alive connection: what an operator's client sees, the HTTP
  parsing and the sockets included. Its mode is switched between rounds by a request.

Each round measures every mode once, the rounds' orders those of a Williams design (``orders``:
every mode as often in each place of a round, and right after each other mode), shuffled anew
in each block of rounds (``sequence``, ``--seed``): ``--misses``
new questions (a miss in every cache layer: embedding, search, context, the model call) and
``--hits`` exact L1 hits of one warmed question, interleaved. It prints, per way in and kind,
p50 and p99 of each mode over all rounds, the ratio to ``off`` of each round's p50 and p99: the
median over rounds and the spread (lowest, highest), and a 90 % interval of the pooled ratio
(the rounds drawn again with replacement), which is the noise to read the ratios against, as is
``again``'s ratio. The issue's targets: ``on`` at most +5 % on a miss and +10 % on a hit. The
semantic cache is off so that every new question is a whole miss; the ``ci`` profile has no
request limits. The load average before and after is printed: on a busy machine the spread is
wide. ``--endpoint`` uses a receiver already running; otherwise ``phoenix serve`` (the
``viewer`` extra) is started on loopback ports, at ``--viewer-nice`` added niceness (0, the
default: it competes with the app as an equal; 19: it yields to the app) or in Linux's idle
class (``idle``: it gets a CPU only when no answer wants one, as a viewer on another machine
would take none of the app's). In process, the app is frozen out of the garbage
collector after warming, as ``rag-core serve``'s workers are once ready (``rag_core.heap``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from rag_core import heap
from rag_core.config import Settings
from rag_core.procs import free_port, stop_group, wait_http

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tracing_modes import MODES, Tracers, children, counts, cpu_seconds, cpus, pin, span_cost  # noqa: E402 (this folder, put on the path)
from tracing_report import KINDS, Times, report  # noqa: E402 (this folder)
from tracing_requests import Asgi, over_http, plan  # noqa: E402 (this folder)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "notes" / "amara"
SECRET = "bench-tracing-secret-0123456789-abcdefghijkl"


@contextlib.contextmanager
def receiver(endpoint: str | None, work: Path, nice: str = "0", side: set[int] | None = None
             ) -> Iterator[tuple[str, Callable[[], float]]]:
    """The OTLP endpoint, and the CPU seconds its receiver has used so far (NaN when it is not
    this benchmark's): the one given, or a Phoenix started here on loopback ports (``nice``
    added to its niceness, or ``idle``: Linux's idle class, a CPU only when no answer wants
    one; a viewer on another machine takes none of the app's CPUs), on the CPUs ``side``
    when given."""
    if endpoint:
        yield endpoint, lambda: float("nan")
        return
    command = shutil.which("phoenix") or str(Path(sys.executable).parent / "phoenix")
    if not Path(command).exists():
        raise SystemExit("no `phoenix` command: pip install -e '.[viewer]', or --endpoint URL")
    port = free_port()
    env = {**os.environ, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(free_port()), "PHOENIX_WORKING_DIR": str(work),
           "PHOENIX_TELEMETRY_ENABLED": "false", "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false"}
    log = open(work / "phoenix.log", "wb")  # noqa: SIM115 (closed below)
    lower = ["chrt", "--idle", "0"] if nice == "idle" else ["nice", "-n", nice]
    if side:
        lower = ["taskset", "-c", ",".join(map(str, sorted(side))), *lower]
    proc = subprocess.Popen([*lower, command, "serve"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 300, proc=proc, log=work / "phoenix.log")
        yield f"http://127.0.0.1:{port}", lambda: cpu_seconds(proc.pid)  # `nice`, `chrt` exec it
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@contextlib.contextmanager
def served(settings: dict[str, Any], endpoint: str, work: Path) -> Iterator[httpx.Client]:
    """A uvicorn server of the app in its own process (``tracing_modes.py``), and a client."""
    port = free_port()
    log = open(work / "served.log", "wb")  # noqa: SIM115 (closed below)
    script = Path(__file__).resolve().parent / "tracing_modes.py"
    proc = subprocess.Popen([sys.executable, str(script), str(port), endpoint,
                             json.dumps(settings)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 300, proc=proc, log=work / "served.log")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        stop_group(proc)
        log.close()


def databases(settings: Settings) -> list[int]:
    """The embedded PostgreSQL (its postmaster and the backends it runs) and Redis of
    ``settings``' state folder: the service's own processes, on the app's CPUs with ``--cpus``
    so that an answer never waits on the CPU the viewer keeps busy (or idle)."""
    from rag_core import services

    found = services.server_pids(settings.services)
    return [*found, *(child for pid in found for child in children(pid))]


def quiet_receiver(viewer_cpu: Callable[[], float], flush: Callable[[], Any],
                   still_s: float = 0.5, most_s: float = 60.0) -> None:
    """Flush the spans, then wait until the receiver's CPU time stops growing (less than 10 ms
    in ``still_s``), at most ``most_s``: its work for one mode's spans done before the next
    mode starts (nothing to wait for when the receiver is not this benchmark's)."""
    flush()
    deadline = time.monotonic() + most_s
    last = viewer_cpu()
    while last == last and time.monotonic() < deadline:  # NaN: not ours
        time.sleep(still_s)
        now = viewer_cpu()
        if now - last < 0.01:
            return
        last = now


def orders(modes: list[str]) -> list[list[str]]:
    """The orders of a round, one after another (a Williams design): each mode as often in each
    place, and each mode as often right after each other mode, once the rounds are a multiple
    of their number (2 modes: 2 orders; 3: 6; 4: 4). So neither a place in the round nor what
    a mode leaves behind (spans still to export, garbage, a busy receiver) falls on one mode
    more than another; with the order reversed every other round, ``off`` never came right
    after ``on``."""
    n = len(modes)
    first = [0]
    for step in range(1, n):  # 0, 1, n-1, 2, n-2, ...
        first.append((step + 1) // 2 if step % 2 else n - step // 2)
    rows = [[(place + shift) % n for place in first] for shift in range(n)]
    if n % 2:
        rows += [row[::-1] for row in rows]
    return [[modes[i] for i in row] for row in rows]


def sequence(modes: list[str], rounds: int, rng: random.Random) -> list[list[str]]:
    """Each round's order: the ``orders`` in a new shuffle for each block of as many rounds,
    so each block still balances exactly each mode's places and the mode right before it in a
    round, but no order comes back on a fixed period. In a fixed cycle (the orders in turn),
    the control drifted: in one run of 1,200 rounds of 42 requests, ``again`` ran 3 % slower
    than ``off`` at a hit's p50 (90 % interval 1.02-1.04), two identical no-op tracers. The
    cycle gave ``again`` the turn two after ``on`` three times as often as ``off``, and an
    ``on`` turn's export and a viewer's work on its spans land one to three turns later; the
    design balances only the turn right before (docs/tracing-overhead.md, "Short turns in
    shuffled orders")."""
    found: list[list[str]] = []
    while len(found) < rounds:
        block = orders(modes)
        rng.shuffle(block)
        found += block
    return found[:rounds]


def rounds(times: Times, way: str, modes: list[str], args: argparse.Namespace,
           use: Callable[[str], None],
           measure: Callable[[list[bool | None]], dict[str, list[float]]],
           settle: Callable[[], None] = lambda: None) -> None:
    """``args.rounds`` rounds of every mode, in the orders of ``sequence``; warmed first;
    ``settle`` before each mode's turn (``--settle``)."""
    use("off")
    measure([None])  # the question the hits ask, into L1
    measure(plan(2, 5))  # and the models, the pools
    if way == "process":  # settled as a served worker is once ready (rag_core.heap)
        heap.settle()
    turns = sequence(modes, args.rounds, random.Random(args.seed))
    for n in tqdm(range(args.rounds), desc=f"{way}: rounds", unit="round", file=sys.stderr,
                  mininterval=5.0, ncols=90):
        for mode in turns[n]:
            if args.settle:
                settle()
            use(mode)
            for kind, ms in measure(plan(args.misses, args.hits)).items():
                times[way][mode][kind].append(ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--misses", type=int, default=10)
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0,
                        help="the shuffle of the rounds' orders (``sequence``)")
    parser.add_argument("--short", action="store_true", help="2 rounds of 3 misses, 30 hits")
    parser.add_argument("--where", default="process,served",
                        help="process (in process), served (uvicorn over loopback), or both")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="of off, again, sdk, made, on")
    parser.add_argument("--endpoint", help="an OTLP/HTTP receiver already running")
    parser.add_argument("--pace", type=float, default=0.0, metavar="MS",
                        help="a pause after each request (0: one after another, as fast as "
                             "they are answered)")
    parser.add_argument("--settle", action="store_true",
                        help="before each mode's turn, flush the spans and wait until the "
                             "receiver started here is idle, so that its work for one mode's "
                             "spans does not fall in another mode's turn")
    parser.add_argument("--json", type=Path,
                        help="also write every time measured (ms, by way, mode, kind and round) "
                             "and the span counts to this file")
    parser.add_argument("--cpus", metavar="APP/SIDE",
                        help="CPUs for the app (this process, the mock model, the served worker, "
                             "PostgreSQL and Redis) and, apart, for the Phoenix started here, "
                             "as taskset spells them (0/1: a viewer on "
                             "a core of its own)")
    parser.add_argument("--viewer-dir", type=Path,
                        help="a folder for the Phoenix started here to keep its database in "
                             "(by default the run's own, on the disk the service's PostgreSQL "
                             "and Redis write to; /dev/shm: a viewer that takes none of that "
                             "disk, as on another machine)")
    parser.add_argument("--viewer-nice", default="0",
                        help="niceness added to the Phoenix started here (0: as the app; 19: it "
                             "yields to the app), or idle (Linux's idle class: only the CPU no "
                             "answer wants)")
    args = parser.parse_args()
    if args.short:
        args.rounds, args.misses, args.hits = 2, 3, 30
    modes = ["off", *(m for m in args.modes.split(",") if m in MODES and m != "off")]
    args.orders = len(orders(modes))
    if args.rounds % args.orders:
        print(f"--rounds {args.rounds} is not a multiple of the {args.orders} orders of "
              f"{len(modes)} modes: each mode's places are balanced only approximately",
              file=sys.stderr)
    pace_s = args.pace / 1000
    app_cpus, side = (cpus(part) for part in args.cpus.split("/")) if args.cpus else (None, None)
    ways = [w for w in ("process", "served") if w in args.where.split(",")]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from rag_core import services
    from rag_core.api.auth import issue_token
    from rag_core.app import create_app
    from rag_core.devservers.mock_server import start_mock
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    work = Path(tempfile.mkdtemp(prefix="ragbt", dir="/tmp"))
    viewer_dir = Path(tempfile.mkdtemp(prefix="ragbt-viewer", dir=args.viewer_dir or work))
    mock_url, stop_mock, _ = start_mock()
    # a layer's bound evicts the entries nearest their expiry, the warmed question first: a
    # run of more misses than the bound (10,000 a layer) would turn its hits into misses
    most = max(10_000, 2 * args.rounds * len(modes) * (args.misses + 1))
    given: dict[str, Any] = dict(
        profile="ci", state_dir=str(work / "state"), jwt_secret=SECRET, llm="hf",
        llm_base_url=f"{mock_url}/v1", llm_max_retries=0, semantic_cache_enabled=False,
        cache_max_entries=most)
    settings = services.resolve(Settings(**given))
    given.update(database_url=settings.services.database_url,
                 redis_url=settings.services.redis_url)
    parts = build_parts(settings)
    if app_cpus:  # this process's threads (the mock model's too), what it starts from now on,
        for pid in [os.getpid(), *databases(settings)]:  # and the databases with their backends
            pin(pid, app_cpus)
    load_before = os.getloadavg()
    times: Times = {w: {m: {kind: [] for kind in KINDS} for m in modes} for w in ways}
    spans: dict[str, dict[str, float]] = {}
    cost: dict[str, float] = {}
    try:
        parts.embedder.load()
        ingest_path(parts, "amara", GOLDEN, progress=False)
        headers = {"Authorization": f"Bearer {issue_token(settings, 'amara')}"}
        with receiver(args.endpoint, viewer_dir, args.viewer_nice, side) as (endpoint,
                                                                            viewer_cpu):
            viewer_before = viewer_cpu()
            if "process" in ways:
                tracers = Tracers(endpoint)
                app = create_app(settings, parts=parts)
                with Asgi(app, headers, pace_s) as measure:
                    rounds(times, "process", modes, args, tracers.use, measure,
                           lambda: quiet_receiver(viewer_cpu, tracers.flush))
                tracers.flush()
                spans["process"] = {**counts(),
                                    "viewer_cpu_s": viewer_cpu() - viewer_before}
                viewer_before = viewer_cpu()
                spare = ("sdk", "on")  # the span cost loop would flood Phoenix
                cost = span_cost(tracers, [m for m in modes if m not in spare])
            if "served" in ways:
                with served(given, endpoint, work) as client:
                    def use(mode: str) -> None:
                        client.post("/bench/mode", params={"mode": mode}).raise_for_status()

                    rounds(times, "served", modes, args, use,
                           lambda order: over_http(client, headers, order, pace_s),
                           lambda: quiet_receiver(viewer_cpu,
                                                  lambda: client.post("/bench/flush")))
                    spans["served"] = {**client.post("/bench/flush").json(),
                                       "viewer_cpu_s": viewer_cpu() - viewer_before}
        report(times, args, load_before, spans, cost)
        if args.json:
            args.json.write_text(json.dumps({"times": times, "spans": spans, "cost": cost}))
    finally:
        parts.close()
        stop_mock()
        services.stop_all(settings.with_overrides(database_url=None, redis_url=None))
        shutil.rmtree(work, ignore_errors=True)
        if args.viewer_dir:
            shutil.rmtree(viewer_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
