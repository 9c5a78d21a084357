"""Benchmark of tracing's overhead (figures, not a test): the same app with tracing off (the
API's no-op tracer, ``RAG_OTEL_EXPORTER=none``) and on (every span exported over OTLP/HTTP to a
local Arize Phoenix, through the bounded exporter), in one run, on the embedded services, the
``hf`` generator against the mock LLM.

    python benchmarks/bench_tracing.py [--rounds 5] [--misses 6] [--hits 60] [--short]
                                       [--endpoint http://127.0.0.1:6006]

Each round measures both modes, in alternating order, through the app in process
(httpx.ASGITransport, the request middleware and its HTTP span included): ``--misses`` new
questions (a miss in every cache layer: embedding, search, context, the model call) and
``--hits`` exact L1 hits of one warmed question, in a third mode too (``sdk``: spans made and
handed to an exporter that discards them, the app's own share of ``on``, without the encoding,
the sending and the local receiver's CPU). It prints p50 and p99 of each mode and the ratios
to ``off`` per kind; the issue's targets are at most +5 % on a miss and +10 % on a hit. The
semantic cache is off so that every new question is a whole miss; no request limit applies in
process. The load average before and after is printed: on a busy machine the spread between
rounds is the noise to read the ratios against. ``--endpoint`` uses a receiver already running;
otherwise ``phoenix serve`` (the ``viewer`` extra) is started on loopback ports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from rag_core.config import Settings
from rag_core.procs import free_port, wait_http

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "notes" / "amara"
QUESTION = "What did Pastor Okafor say about faith and Abraham?"
TOPICS = ("Abraham leaving Haran", "Noah building under a clear sky", "running with endurance",
          "the great cloud of witnesses", "a high priest who understands", "faith that waits")
SECRET = "bench-tracing-secret-0123456789-abcdefghijkl"
MODES = ("off", "sdk", "on")  # no-op tracer; spans made, then discarded; spans exported


def tag() -> str:
    """Letters and digits (as tests/tags.py): a new question each time, the same request."""
    return "".join(random.choice(string.ascii_lowercase) + random.choice(string.digits)
                   for _ in range(4))


@contextlib.contextmanager
def receiver(endpoint: str | None, work: Path) -> Iterator[str]:
    """The OTLP endpoint: the one given, or a Phoenix started here on loopback ports."""
    if endpoint:
        yield endpoint
        return
    command = shutil.which("phoenix") or str(Path(sys.executable).parent / "phoenix")
    if not Path(command).exists():
        raise SystemExit("no `phoenix` command: pip install -e '.[viewer]', or --endpoint URL")
    port = free_port()
    env = {**os.environ, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(free_port()), "PHOENIX_WORKING_DIR": str(work),
           "PHOENIX_TELEMETRY_ENABLED": "false", "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false"}
    log = open(work / "phoenix.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([command, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 300, proc=proc, log=work / "phoenix.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


class Discard:
    """An exporter that takes every batch and keeps nothing: the app's own cost of its spans,
    without the encoding, the sending and the receiver's work."""

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def tracers(endpoint: str) -> dict[str, Any]:
    """The modes: the no-op tracer (off), spans made and discarded (sdk), spans exported to
    ``endpoint`` (on)."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from rag_core.telemetry.export import BoundedExport

    resource = Resource.create({"service.name": "bench_tracing"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BoundedExport(OTLPSpanExporter(
        endpoint=f"{endpoint}/v1/traces", timeout=5)))
    discarding = TracerProvider(resource=resource)
    discarding.add_span_processor(BoundedExport(Discard()))
    return {"off": trace.NoOpTracer(), "on": provider.get_tracer("rag_core"),
            "sdk": discarding.get_tracer("rag_core"), "provider": provider}


async def measure(app: Any, headers: dict[str, str], misses: int, hits: int
                  ) -> tuple[list[float], list[float]]:
    """Milliseconds of ``misses`` new questions and ``hits`` L1 hits, interleaved."""
    miss_ms: list[float] = []
    hit_ms: list[float] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        if misses == 0:  # warm: the question the hits ask, into L1
            r = await client.post("/v1/query", json={"query": QUESTION}, headers=headers)
            assert r.status_code == 200, r.text
            return miss_ms, hit_ms
        every = max(1, hits // max(1, misses))
        for n in range(misses + hits):
            miss = n % (every + 1) == 0 and len(miss_ms) < misses
            question = (f"What did Okafor say about {random.choice(TOPICS)}? ({tag()})"
                        if miss else QUESTION)
            start = time.perf_counter()
            r = await client.post("/v1/query", json={"query": question}, headers=headers)
            ms = (time.perf_counter() - start) * 1000
            body = r.json()
            assert r.status_code == 200, r.text
            assert body["cache"]["query"] == ("miss" if miss else "hit"), body["cache"]
            (miss_ms if miss else hit_ms).append(ms)
    return miss_ms, hit_ms


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--misses", type=int, default=6)
    parser.add_argument("--hits", type=int, default=60)
    parser.add_argument("--short", action="store_true", help="2 rounds of 3 misses, 30 hits")
    parser.add_argument("--endpoint", help="an OTLP/HTTP receiver already running")
    args = parser.parse_args()
    if args.short:
        args.rounds, args.misses, args.hits = 2, 3, 30
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from rag_core import observability as obs
    from rag_core import services
    from rag_core.api.auth import issue_token
    from rag_core.app import create_app
    from rag_core.devservers.mock_server import start_mock
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    work = Path(tempfile.mkdtemp(prefix="ragbt", dir="/tmp"))
    mock_url, stop_mock, _ = start_mock()
    settings = services.resolve(Settings(
        profile="ci", state_dir=work / "state", jwt_secret=SECRET, llm="hf",
        llm_base_url=f"{mock_url}/v1", llm_max_retries=0, semantic_cache_enabled=False))
    parts = build_parts(settings)
    load_before = os.getloadavg()
    try:
        parts.embedder.load()
        ingest_path(parts, "amara", GOLDEN, progress=False)
        headers = {"Authorization": f"Bearer {issue_token(settings, 'amara')}"}
        with receiver(args.endpoint, work) as endpoint:
            modes = tracers(endpoint)
            app = create_app(settings, parts=parts)
            times: dict[str, dict[str, list[float]]] = {
                m: {"miss": [], "hit": []} for m in MODES}
            obs.use_tracer(modes["off"])
            asyncio.run(measure(app, headers, 0, 0))  # warm: the L1 entry of the hits
            asyncio.run(measure(app, headers, 2, 5))  # and the models, the pools
            for n in range(args.rounds):
                for mode in MODES if n % 2 == 0 else MODES[::-1]:
                    obs.use_tracer(modes[mode])
                    miss_ms, hit_ms = asyncio.run(measure(app, headers, args.misses, args.hits))
                    times[mode]["miss"] += miss_ms
                    times[mode]["hit"] += hit_ms
            modes["provider"].force_flush(30_000)
        report(times, args, load_before)
    finally:
        parts.close()
        stop_mock()
        services.stop_all(settings.with_overrides(database_url=None, redis_url=None))
        shutil.rmtree(work, ignore_errors=True)


def report(times: dict[str, dict[str, list[float]]], args: argparse.Namespace,
           load_before: tuple[float, float, float]) -> None:
    from rag_core.telemetry.export import DROPPED, EXPORTED

    print(f"\ntracing off vs on (OTLP to a local Phoenix), {args.rounds} rounds of "
          f"{args.misses} misses and {args.hits} hits, in process (ASGITransport)")
    print(f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    for kind, target in (("miss", 5), ("hit", 10)):
        off = times["off"][kind]
        print(f"  {kind}: off p50 {pct(off, 50):.2f} ms, p99 {pct(off, 99):.2f} ms "
              f"(n={len(off)}; target on/off <= {1 + target / 100:.2f})")
        for mode in ("sdk", "on"):
            got = times[mode][kind]
            print(f"    {mode:3} p50 {pct(got, 50):8.2f} ms  p99 {pct(got, 99):8.2f} ms | "
                  f"{mode}/off p50 {pct(got, 50) / pct(off, 50):.3f}  "
                  f"p99 {pct(got, 99) / pct(off, 99):.3f}")
    dropped = sum(DROPPED.labels(reason=r)._value.get() for r in ("queue_full", "export_failed"))
    print(f"  spans exported {EXPORTED._value.get():.0f}, dropped {dropped:.0f}")


if __name__ == "__main__":
    main()
