"""``rag-core ask``: an answer, here or from a running server (``rag-core search``, the
retrieved chunks without generating: ``rag_core.cli.search_output``)."""

from __future__ import annotations

import argparse

from rag_core.cli.args import filters_from
from rag_core.cli.remote import ask_server, print_answer, server_url


def cmd_ask(args: argparse.Namespace) -> int:
    url = server_url(args)
    filters = filters_from(args)
    if url:  # a running `rag-core serve` has the models loaded: no start-up cost here
        print_answer(ask_server(url, args.user, args.question, args.top_k, filters=filters,
                                conversation_id=args.conversation), args.json)
        return 0
    from rag_core.cli.in_process import asking_here  # lazy: the pipeline, not with --server

    with asking_here(args.user, args.top_k, filters) as ask:
        answer = ask(args.question, args.conversation)
    print_answer(answer, args.json)
    return 0
