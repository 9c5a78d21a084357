"""``rag-core search`` and what it prints: one row per hit, the ``--explain`` lines, and the
``--queries`` batch (one JSON line per question)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from rag_core.cli.args import filters_from
from rag_core.cli.command import parts_of, print_json, settings_now
from rag_core.errors import InvalidArgument, InvalidQuery, UserError
from rag_core.pipeline import Pipeline

if TYPE_CHECKING:
    from rag_core.types import Chunk


class ResultRow(TypedDict):
    """One hit as ``rag-core search`` prints it (a JSON line with ``--queries``)."""

    chunk_id: str
    note_id: str
    title: str
    score: float
    dense_rank: int | None
    lexical_rank: int | None
    lexical_score: float | None
    matched_terms: list[str]
    fused_score: float | None


def result_row(chunk: Chunk) -> ResultRow:
    return {
        "chunk_id": chunk.chunk_id,
        "note_id": chunk.note_id,
        "title": chunk.title,
        "score": round(float(chunk.score), 4),
        "dense_rank": chunk.dense_rank,
        "lexical_rank": chunk.lexical_rank,
        "lexical_score": chunk.lexical_score,
        "matched_terms": list(chunk.matched_terms),
        "fused_score": chunk.fused_score,
    }


def explain(i: int, row: ResultRow, ranker: str) -> str:
    """Three lines per hit: fused score, the dense side, the lexical side with its terms."""
    def rank(r: int | None) -> str:
        return f"#{r}" if r is not None else "-"

    fused = f"{row['fused_score']:.4f}" if row["fused_score"] is not None else "-"
    lexical = f"{row['lexical_score']:.3f}" if row["lexical_score"] is not None else "-"
    terms = ", ".join(row["matched_terms"]) or "(none)"
    return (f"{i:>2}. fused {fused}  {row['title']}  ({row['chunk_id']})\n"
            f"    dense    cosine {row['score']:.3f}  rank {rank(row['dense_rank'])}\n"
            f"    lexical  {ranker} {lexical}  rank {rank(row['lexical_rank'])}  terms: {terms}")


def search_many(pipe: Pipeline, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    path = Path(args.queries)
    if not path.exists():
        raise InvalidArgument(f"--queries {path}: no such file")
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(args.output, "w")) if args.output else sys.stdout
        for n, line in enumerate(tqdm(lines, desc="search", disable=args.quiet or
                                      out is sys.stdout), start=1):
            try:
                item = json.loads(line)
                qid, text = item["id"], item["text"]
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidQuery(f"{path}:{n}: each line needs JSON with 'id' and 'text'") \
                    from exc
            user = item.get("user_id", args.user)
            if not user:
                raise InvalidArgument("Give --user or a user_id on every line.")
            try:
                rows = [result_row(c) for c in pipe.search(user, text, args.top_k,
                                                           filters=args.filters)]
            except UserError as exc:  # one bad question does not end the batch
                out.write(json.dumps({"id": qid, "results": [],
                                      "error": {"code": exc.code, "message": exc.message}}) + "\n")
                continue
            out.write(json.dumps({"id": qid, "results": rows}) + "\n")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
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
