"""``rag-core feedback`` and ``rag-core querylog``: what the service kept, out for the harness."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rag_core import services
from rag_core.answers.feedback import export_verdicts
from rag_core.answers.log import export_query_log
from rag_core.cli.parsers.records import DAYS_MAX
from rag_core.config import Settings, fixed
from rag_core.errors import ConfirmationRequired, InvalidArgument
from rag_core.parts import build_store


def _records() -> tuple[Any, Any]:
    """The settings and the store (whose ``records`` hold verdicts and the query log)."""
    settings = services.resolve(Settings(), redis=False)  # PostgreSQL only
    return settings, build_store(settings)


def _check_out(out: str, *, folder: bool) -> Path:
    """``out`` as a path an export can write, checked before the database is opened:
    ``InvalidArgument`` (exit 2) when its folder is missing or it is the wrong kind of file."""
    path = Path(out)
    if folder and path.exists() and not path.is_dir():
        raise InvalidArgument(f"{path} exists and is not a folder.")
    if not folder and path.is_dir():
        raise InvalidArgument(f"{path} is a folder; name a file to write.")
    if not folder and not path.parent.is_dir():
        raise InvalidArgument(f"The folder {path.parent} does not exist; create it first.")
    return path


def _written(write: Callable[[], Any], out: Path) -> Any:
    """``write()``, with an operating-system refusal (no permission, disk full) as a coded
    error naming ``out``."""
    try:
        return write()
    except OSError as exc:
        raise InvalidArgument(f"{out} cannot be written: {exc.strerror or exc}.") from exc


def _confirmed(args: argparse.Namespace, what: str, count: int) -> bool:
    """Say how many rows a purge deletes; on a terminal, only with ``--yes``."""
    print(f"purge: {count} {what} to delete", file=sys.stderr)
    if sys.stdin.isatty() and not args.yes:
        raise ConfirmationRequired(f"This deletes {count} {what}; run it again with --yes "
                                   "to go ahead.")
    return True


def _refuse_extra(args: argparse.Namespace, command: str) -> None:
    """Arguments the action does not take are refused, never ignored."""
    if args.action == "export" and args.yes:
        raise InvalidArgument(f"{command} export takes no --yes.")
    if args.action == "purge" and args.out:
        raise InvalidArgument(f"{command} purge takes no OUT; it writes nothing.")


def cmd_feedback(args: argparse.Namespace) -> int:
    _refuse_extra(args, "feedback")
    if args.action == "export" and args.days is not None:
        raise InvalidArgument("feedback export takes no --days: it writes every verdict kept "
                              "(RAG_FEEDBACK_DAYS bounds how long they are kept).")
    if args.action == "export" and not args.out:
        raise InvalidArgument("feedback export needs OUT, the folder to write.")
    out = _check_out(args.out, folder=True) if args.action == "export" else Path()
    _, store = _records()
    try:
        if args.action == "purge":
            since = datetime.now(UTC) - timedelta(days=args.days or 0)
            count = sum(1 for v in store.records.verdicts() if args.days is None
                        or (v.created_at is not None and v.created_at < since))
            _confirmed(args, "verdicts", count)
            print(json.dumps({"removed": store.records.purge_verdicts(args.days)}))
            return 0
        counts = _written(lambda: export_verdicts(store.records, out), out)
    finally:
        store.close()
    print(json.dumps({"out": str(args.out), **counts}))
    return 0


def cmd_querylog(args: argparse.Namespace) -> int:
    _refuse_extra(args, "querylog")
    if args.action == "purge" and args.days is not None:
        raise InvalidArgument("querylog purge takes no --days: it deletes the whole log "
                              "(lines older than 30 days go on their own).")
    if args.action == "export" and not args.out:
        raise InvalidArgument("querylog export needs OUT, the JSON-lines file to write.")
    out = _check_out(args.out, folder=False) if args.action == "export" else Path()
    settings, store = _records()
    try:
        if args.action == "purge":
            _confirmed(args, "query log lines", len(store.records.queries(DAYS_MAX)))
            print(json.dumps({"removed": store.records.purge_queries()}))
            return 0
        days = args.days or fixed.QUERY_LOG_DAYS
        written = _written(lambda: export_query_log(store.records, out, days), out)
    finally:
        store.close()
    print(json.dumps({"out": str(args.out), "lines": written, "days": days}))
    return 0
