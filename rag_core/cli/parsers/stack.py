"""``rag-core services`` and ``rag-core migrate``: their arguments (run by
``rag_core.cli.stack``)."""

from __future__ import annotations

from rag_core.cli.parsers import Add


def register(add: Add) -> None:
    p = add("services", "stack:cmd_services",
            "Start, inspect or stop the embedded PostgreSQL and Redis.")
    p.add_argument("action", choices=["up", "status", "down"])

    p = add("migrate", "stack:cmd_migrate",
            "Apply the database schema (a deploy step; idempotent).")
    p.add_argument("--reindex", action="store_true",
                   help="then rebuild the HNSW index with RAG_HNSW_VECTOR_TYPE, RAG_HNSW_M and "
                        "RAG_HNSW_EF_CONSTRUCTION, concurrently (searches and writes go on)")
