"""``rag-core chat``: its arguments (run by ``rag_core.cli.chat``)."""

from __future__ import annotations

from rag_core.cli.args import TOP_K
from rag_core.cli.parsers import Add


def register(add: Add) -> None:

    p = add("chat", "chat:cmd_chat", "Hold a conversation with a user's notes in the terminal.")
    p.add_argument("--user", required=True)
    p.add_argument("--top-k", type=TOP_K, default=None,
                   help="chunks to retrieve, 1-50 (default RAG_TOP_K, 5)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="URL", default=None,
                       help="ask a running `rag-core serve` at URL (default RAG_SERVER_URL)")
    where.add_argument("--local", action="store_true",
                       help="answer in this process even when RAG_SERVER_URL is set")
