"""The commands that run a server: ``serve`` (the app), ``mock-llm`` and ``local-llm``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rag_core.cli.args import env_settings as _settings
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

    from rag_core import observability as obs
    from rag_core import services
    from rag_core.api.auth import check_auth_settings
    from rag_core.cli import announce

    settings = _settings()
    check_auth_settings(settings)  # before anything starts: no service with a forgeable identity
    obs.setup_logging(settings)
    url = announce.announce_start(args.host, args.port, args.workers, settings.profile)
    services.ensure_services(settings)  # start once, before the workers arrive
    if args.workers > 1:
        _multiprocess_metrics(settings, args.port)
    announce.watch_ready(url)
    uvicorn.run("rag_core.app:app", host=args.host, port=args.port, workers=args.workers,
                log_level="warning", access_log=False,
                timeout_keep_alive=args.keep_alive or fixed.KEEP_ALIVE_S,
                timeout_worker_healthcheck=settings.services.worker_healthcheck_s)
    return 0


def _multiprocess_metrics(settings: Settings, port: int) -> None:
    """Workers write their metrics to a shared folder so that /metrics sums over all of them
    (prometheus_client's multiprocess mode); a folder already named by the operator is kept."""
    import shutil

    from rag_core.observability import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        return
    folder = Path(settings.services.state_dir).resolve() / f"prometheus-{port}"
    shutil.rmtree(folder, ignore_errors=True)  # counts of an earlier run would add up
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
