"""``rag-core chat --user U``: a conversation in a terminal. Each line read is a question of one
conversation (the first starts it, the next follow up); each answer is printed with its
citations, until end of input (Ctrl-D). In this process, or through a running ``rag-core
serve`` (``--server`` / ``RAG_SERVER_URL``), as ``ask``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

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
    from rag_core.cli.in_process import asking_here  # lazy: the pipeline, not with --server

    with asking_here(args.user, args.top_k) as ask:
        return converse(ask, sys.stdin, sys.stdout)
