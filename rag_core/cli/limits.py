"""``rag-core limits set|show|clear USER``: a user's own request limits, kept in PostgreSQL and
read by every server within a few seconds (rag_core/limits/own.py), without a restart. Limits
are per identity: a user with no notes may have them. ``show`` prints the limits that apply
(the user's own, over the tier of ``--tier`` or the defaults), exit 0 with or without own
limits."""

from __future__ import annotations

import argparse
import json
import sys

from rag_core import services
from rag_core.config import Settings
from rag_core.errors import InvalidArgument, InvalidUser
from rag_core.limits import RateLimits, limits_for
from rag_core.parts import build_store
from rag_core.safety.guard import USER_ID
from rag_core.store.user_limits import user_limits_for

WINDOW_FLAGS = ("per_minute", "per_hour", "per_day")


def cmd_limits(args: argparse.Namespace) -> int:
    if not USER_ID.fullmatch(args.user):
        raise InvalidUser()
    given = tuple(getattr(args, flag) for flag in WINDOW_FLAGS)
    if args.action == "set" and all(n is None for n in given):
        raise InvalidArgument("limits set needs at least one of --per-minute, --per-hour, "
                              "--per-day (0: that window off for the user).")
    if args.action != "set" and any(n is not None for n in given):
        raise InvalidArgument(f"--per-minute, --per-hour and --per-day go with set, not "
                              f"{args.action}.")
    settings = services.resolve(Settings(), redis=False)  # PostgreSQL only
    store = build_store(settings)
    try:
        table = user_limits_for(store)
        cleared = None
        if args.action == "set":
            table.set(args.user, (given[0], given[1], given[2]))
        elif args.action == "clear":
            cleared = table.clear(args.user)
        row = table.get(args.user)
    finally:
        store.close()
    own = RateLimits(*row) if row is not None else None
    applied, source = limits_for(settings.limits, args.tier, own)
    out: dict[str, object] = {"user": args.user, "source": source,
                              **{f"per_{w}": n for w, n in applied.by_window().items()},
                              "own": None if own is None else {
                                  f"per_{w}": n for w, n in own.by_window().items()}}
    if cleared is not None:
        out["cleared"] = cleared
    print(json.dumps(out))
    if args.tier is not None and args.tier not in settings.limits.rate_tiers:
        print(f"note: RAG_RATE_TIERS names no tier {args.tier!r}: its users get the defaults",
              file=sys.stderr)
    return 0
