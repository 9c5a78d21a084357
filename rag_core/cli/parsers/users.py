"""``rag-core users erase``: its arguments (run by ``rag_core.cli.users``)."""

from __future__ import annotations

from rag_core.cli.parsers import Add


def register(add: Add) -> None:
    p = add("users", "users:cmd_users",
            "Erase one user everywhere: notes, chunks, every cache layer, "
            "verdicts, query log lines, limits and reservations; the day's spend stays in the "
            "ledger under one anonymous key.")
    p.add_argument("action", choices=["erase"])
    p.add_argument("user", help="the user id to erase")
    p.add_argument("--json", action="store_true", help="print what was removed as JSON")
