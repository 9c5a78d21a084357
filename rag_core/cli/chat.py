"""``rag-core chat --user U``: a conversation in a terminal. Each line read is a question of one
conversation (the first starts it, the next follow up); each answer is printed with its
citations, until end of input (Ctrl-D). In this process, or through a running ``rag-core
serve`` (``--server`` / ``RAG_SERVER_URL``), as ``ask``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rag_core.cli.args import TOP_K
from rag_core.cli.command import Add, parts_of, settings_now
from rag_core.cli.remote import ask_server, print_answer, server_url
from rag_core.errors import UserError

Asker = Callable[[str, str], dict[str, Any]]  # (question, conversation id) -> answer dict


def converse(ask: Asker, lines: Any, out: Any) -> int:
    """Read questions from ``lines`` until their end, answering each in one conversation; a
    question refused (bad input) is said and the conversation goes on."""

    conversation = "new"
    prompt = out.isatty() if hasattr(out, "isatty") else False
    while True:
        if prompt:
            out.write("> ")
            out.flush()
        line = lines.readline()
        if not line:
            break
        question = line.strip()
        if not question:
            continue
        try:
            data = ask(question, conversation)
        except UserError as exc:
            print(f"({exc.code}: {exc})", file=out, flush=True)
            continue
        conversation = str(data.get("conversation_id") or conversation)
        print_answer(data, as_json=False)
        print(flush=True)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:

    url = server_url(args)
    if url:
        return converse(lambda q, c: ask_server(url, args.user, q, args.top_k,
                                                conversation_id=c), sys.stdin, sys.stdout)
    from rag_core.answers.conversation import ask_in_conversation
    from rag_core.pipeline import Pipeline

    with parts_of(settings_now()) as parts:
        pipeline = Pipeline(parts)
        return converse(lambda q, c: ask_in_conversation(
            pipeline, args.user, q, c, top_k=args.top_k).to_dict(), sys.stdin, sys.stdout)


def register(add: Add) -> None:

    p = add("chat", cmd_chat, "Hold a conversation with a user's notes in the terminal.")
    p.add_argument("--user", required=True)
    p.add_argument("--top-k", type=TOP_K, default=None,
                   help="chunks to retrieve, 1-50 (default RAG_TOP_K, 5)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="URL", default=None,
                       help="ask a running `rag-core serve` at URL (default RAG_SERVER_URL)")
    where.add_argument("--local", action="store_true",
                       help="answer in this process even when RAG_SERVER_URL is set")

