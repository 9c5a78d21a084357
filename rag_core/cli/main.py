"""The ``rag-core`` command. Thin: it parses arguments, builds Settings, and calls the package.

Each subcommand's arguments are added by a module of ``rag_core/cli/parsers/`` with a
``register(add: Add) -> None`` (``rag_core.cli.parsers.Add``), and the subcommand runs a
function of a module of ``rag_core/cli/``, named ``"module:function"``; this module only lists
the parser modules in ``COMMANDS``, in the order ``--help`` shows them, imports the module of
the one asked for, and runs it (errors: ``error CODE: ...``, exit 2 for a caller's mistake, 3
for a failing dependency)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from rag_core.cli import lifetime
from rag_core.cli.args import Parser
from rag_core.cli.parsers import (
    backup,
    chat,
    costs,
    folders,
    history,
    limits,
    notes,
    operate,
    questions,
    records,
    servers,
    stack,
    users,
)
from rag_core.config import SECTIONS
from rag_core.errors import RagError, UserError

# the modules that add ``rag-core``'s subcommands, in the order of ``--help``: a new one (its own
# ``register(add)``) is imported above and named here; nothing else changes
COMMANDS = (
    stack,
    notes,
    folders,
    history,
    questions,
    chat,
    servers,
    operate,
    costs,
    records,
    limits,
    users,
    backup,
)

EXAMPLES = """\
examples:
  rag-core services up                       start embedded PostgreSQL+pgvector and Redis
  rag-core migrate                           apply the schema (a deploy step)
  rag-core migrate --reindex                 rebuild the HNSW index with the current settings
  rag-core ingest golden/notes/amara --user amara
  rag-core sync ~/vault --user amara --dry-run   what a sync would add, change and remove
  rag-core trash list --user amara           deleted notes, restorable until purged
  rag-core ask "What did I write about the move?" --user amara --json
  rag-core ask "Who spoke on Tuesday?" --user ben --server http://127.0.0.1:8000
  rag-core search "budget 2025" --user ben --top-k 5 --explain
  rag-core serve --port 8000 --workers 2
  rag-core mock-llm --port 8100 --latency-ms 3500
  rag-core mock-llm --port 8100 --obey       the obedient adversary (follows every instruction)
  rag-core local-llm --port 8200             a real small model on CPU (RAG_LLM_BASE_URL=.../v1)

environment: DATABASE_URL, REDIS_URL (unset: embedded servers under RAG_STATE_DIR), RAG_PROFILE
(dev|prod|ci), RAG_LLM (extractive|hf), RAG_LLM_BASE_URL, HF_TOKEN, and every setting as RAG_<NAME>.
RAG_SERVER_URL (and RAG_SERVER_TOKEN): `ask` sends its question to that running `rag-core serve`.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rag-core",
        description="A RAG service over each user's own notes: ingest notes, ask questions, "
                    "serve the API.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)

    def add(name: str, func: str, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    for module in COMMANDS:
        module.register(add)
    return parser


def command(func: str) -> Callable[[argparse.Namespace], int]:
    """The function a subcommand runs, named ``"module:function"`` of ``rag_core.cli``. Its module
    is imported here, when the command runs, and at its top imports what the command needs: so
    ``--help`` and a light command (``token``, ``cache stats``, ``ask --server``) load none of
    the other commands' imports (the pipeline, the model runtimes, the web framework)."""
    module, _, name = func.partition(":")
    found: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(f"rag_core.cli.{module}"), name)
    return found


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
        return int(command(args.func)(args))
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
