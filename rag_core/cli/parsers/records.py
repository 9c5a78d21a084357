"""``rag-core feedback`` and ``rag-core querylog``: their arguments (run by
``rag_core.cli.records``)."""

from __future__ import annotations

from rag_core.cli.args import int_between
from rag_core.cli.parsers import Add

DAYS_MAX = 36_500  # a hundred years: more is a typing mistake, not a wish


def register(add: Add) -> None:
    p = add("feedback", "records:cmd_feedback",
            "Write users' verdicts on answers as labelled items in "
            "the golden set's shape (OUT/qa, OUT/semantic_pairs, OUT/verdicts.jsonl), or purge "
            "them.")
    p.add_argument("action", choices=["export", "purge"])
    p.add_argument("out", nargs="?", help="with export: the output folder")
    p.add_argument("--days", type=int_between(1, DAYS_MAX), default=None,
                   help="with purge: keep the verdicts of the last DAYS days, 1-36500 "
                   "(default: none kept; RAG_FEEDBACK_DAYS applies on its own as the service "
                   "runs)")
    p.add_argument("--yes", action="store_true",
                   help="with purge: go ahead without asking (needed on a terminal)")

    p = add("querylog", "records:cmd_querylog",
            "Export the opt-in query log (RAG_QUERY_LOG=on) as the "
            "JSON lines notebook 03 replays (--param query_log=OUT), or purge it.")
    p.add_argument("action", choices=["export", "purge"])
    p.add_argument("out", nargs="?", help="with export: the JSON-lines file to write")
    p.add_argument("--days", type=int_between(1, DAYS_MAX), default=None,
                   help="with export: the last DAYS days, 1-36500 (default 30, as long as the "
                   "log is kept)")
    p.add_argument("--yes", action="store_true",
                   help="with purge: go ahead without asking (needed on a terminal)")
