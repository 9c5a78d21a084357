"""``rag-core serve``: the app under uvicorn (the development servers: ``rag_core.cli.mock_llm``,
``rag_core.cli.local_llm``)."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import uvicorn

from rag_core import services
from rag_core.api import received
from rag_core.api.auth import check_auth_settings
from rag_core.cli import announce
from rag_core.cli.args import env_settings as _settings
from rag_core.config import Settings, fixed
from rag_core.telemetry import logs
from rag_core.telemetry.export import check_environment
from rag_core.telemetry.metrics import MULTIPROC_ENV


def cmd_serve(args: argparse.Namespace) -> int:
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
                http=received.PROTOCOL,  # uvicorn's own, stamped with each request's arrival
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
    if os.environ.get(MULTIPROC_ENV):
        return
    folder = Path(settings.services.state_dir).resolve() / f"prometheus-{port}"
    shutil.rmtree(folder, ignore_errors=True)  # counts of an earlier run would add up
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
