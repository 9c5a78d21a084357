"""Spend and requests over a span of days (``rag_core.costs.history``): ``user_api_costs`` and
``request_counts`` summed per user between two days (both included)."""

from __future__ import annotations

from psycopg import sql

SPEND_BETWEEN = sql.SQL(
    """
    SELECT user_id, sum(cost_usd)::float8, sum(requests)::bigint, sum(input_tokens)::bigint,
           sum(output_tokens)::bigint
    FROM user_api_costs WHERE day BETWEEN %(start)s AND %(end)s
      AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
    GROUP BY user_id
    """
)
REQUESTS_BETWEEN = sql.SQL(
    """
    SELECT user_id, outcome, sum(requests)::bigint
    FROM request_counts WHERE day BETWEEN %(start)s AND %(end)s
      AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
    GROUP BY user_id, outcome
    """
)
