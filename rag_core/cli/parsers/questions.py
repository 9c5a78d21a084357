"""``rag-core ask`` and ``rag-core search``: their arguments (run by ``rag_core.cli.questions``
and ``rag_core.cli.search_output``)."""

from __future__ import annotations

from rag_core.cli.args import SEARCH_TOP_K, TOP_K, add_filter_args
from rag_core.cli.parsers import Add
from rag_core.store.base import MODES


def register(add: Add) -> None:
    p = add("ask", "questions:cmd_ask", "Answer a question from a user's notes.")
    p.add_argument("question")
    p.add_argument("--user", required=True)
    p.add_argument("--top-k", type=TOP_K, default=None,
                   help="chunks to retrieve, 1-50 (default RAG_TOP_K, 5)")
    p.add_argument("--json", action="store_true", help="print the full answer object as JSON")
    p.add_argument("--conversation", metavar="new|ID", default=None,
                   help="ask within a conversation: `new` starts one (its id is printed), an "
                        "id continues it (a follow-up is made to stand alone first)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="URL", default=None,
                       help="ask a running `rag-core serve` at URL (default RAG_SERVER_URL): "
                            "no model to load in this process. Token: RAG_SERVER_TOKEN, or "
                            "one minted with RAG_JWT_SECRET")
    where.add_argument("--local", action="store_true",
                       help="answer in this process even when RAG_SERVER_URL is set")
    add_filter_args(p)

    p = add("search", "search_output:cmd_search",
            "Show the retrieved chunks for a query, without generating.")
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
