"""``rag-core token`` and ``rag-core cache``: their arguments (run by ``rag_core.cli.remote``,
which also mints the token of ``ask --server``, and ``rag_core.cli.operate``)."""

from __future__ import annotations

import sys

from rag_core.cli.args import int_between
from rag_core.cli.parsers import Add


def register(add: Add) -> None:
    p = add("token", "remote:cmd_token",
            "Print a signed JWT for a user (local use and load tests).")
    p.add_argument("--user", required=True)
    p.add_argument("--ttl", type=int_between(1, sys.maxsize), default=3600,
                   help="seconds until it expires (at most RAG_JWT_MAX_TTL_S, default 86400)")

    p = add("cache", "operate:cmd_cache", "Cache statistics, or clear the caches.")
    p.add_argument("action", choices=["stats", "clear"])
    p.add_argument("--user", help="with clear: only this user's entries")
