"""``rag-core ask`` (an answer, here or from a running server) and ``rag-core search`` (the
retrieved chunks, without generating)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rag_core.cli.args import SEARCH_TOP_K, TOP_K, add_filter_args, filters_from
from rag_core.cli.command import Add, parts_of, print_json, settings_now
from rag_core.errors import InvalidArgument
from rag_core.store.base import MODES


def cmd_ask(args: argparse.Namespace) -> int:
    from rag_core.cli.remote import ask_server, print_answer, server_url

    url = server_url(args)
    filters = filters_from(args)
    if url:  # a running `rag-core serve` has the models loaded: no start-up cost here
        print_answer(ask_server(url, args.user, args.question, args.top_k, filters=filters,
                                conversation_id=args.conversation), args.json)
        return 0
    from rag_core.answers.conversation import ask_in_conversation
    from rag_core.pipeline import Pipeline

    with parts_of(settings_now()) as parts:
        pipeline = Pipeline(parts)
        answer = pipeline.ask(args.user, args.question, top_k=args.top_k, filters=filters) \
            if args.conversation is None else ask_in_conversation(
                pipeline, args.user, args.question, args.conversation, top_k=args.top_k,
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
    settings = settings_now(**({"retrieval_mode": args.mode} if args.mode else {}))
    with parts_of(settings) as parts:
        pipe = Pipeline(parts)
        if args.queries:
            return search_many(pipe, args)
        rows = [result_row(c) for c in pipe.search(args.user, args.query, args.top_k,
                                                   filters=args.filters)]
    if args.json:
        print_json({"query": args.query, "results": rows})
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


def register(add: Add) -> None:
    p = add("ask", cmd_ask, "Answer a question from a user's notes.")
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
