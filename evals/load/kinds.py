"""The load report's requests by the kind of user that sent them (the event log's ``kind``):
follow-ups of a conversation (``followup``) apart from the questions that open one
(``conversation``) and from the other users' (``repeat``, ``novel``, ``adversarial``,
``stream``). A follow-up is rewritten before the cache, so its latency and hit share are its
own; mixing them with first questions would hide both."""

from __future__ import annotations

import pandas as pd

from loadtests.traffic import ANSWERED, CACHE_HITS


def by_kind(events: pd.DataFrame) -> pd.DataFrame:
    """One row per kind: requests, p50 and p95 latency (ms), the share answered, the share
    served by a cache and the share that errored."""
    columns = ["kind", "requests", "p50_ms", "p95_ms", "answered_share", "cache_hit_share",
               "error_share"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for kind, group in events.groupby("kind", sort=True):
        n = len(group)
        rows.append({"kind": kind, "requests": n,
                     "p50_ms": float(group["ms"].quantile(0.5)),
                     "p95_ms": float(group["ms"].quantile(0.95)),
                     "answered_share": float(group["outcome"].isin(ANSWERED).mean()),
                     "cache_hit_share": float(group["outcome"].isin(CACHE_HITS).mean()),
                     "error_share": float((group["outcome"] == "error").mean())})
    return pd.DataFrame(rows, columns=columns)


def markdown(table: pd.DataFrame) -> str:
    """The table as the report's Markdown (numbers rounded)."""
    head = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row)
            + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body])
