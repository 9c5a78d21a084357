"""``rag-core limits``: its arguments (run by ``rag_core.cli.limits``)."""

from __future__ import annotations

from rag_core.cli.args import int_between
from rag_core.cli.parsers import Add


def register(add: Add) -> None:
    p = add("limits", "limits:cmd_limits", "A user's own request limits (per minute, hour, day; 0: "
            "off), which win over the tier and the defaults: set, show (the limits that "
            "apply), clear. Servers take a change within 10 s.")
    p.add_argument("action", choices=["set", "show", "clear"])
    p.add_argument("user", help="the user id (a token's sub)")
    count = int_between(0, 2**31 - 1)
    p.add_argument("--per-minute", type=count, help="with set: questions a minute")
    p.add_argument("--per-hour", type=count, help="with set: questions an hour")
    p.add_argument("--per-day", type=count, help="with set: questions a day")
    p.add_argument("--tier", help="show the limits as for a token with this tier claim")
