"""A user's own request limits (``rag-core limits set``; ``rag_core.store.user_limits``).

- ``user_limits``: one row per user whose limits differ from the tier's or the defaults'; a
  NULL window falls through to them, 0 turns it off (rag_core/limits/policy.py).
"""

from __future__ import annotations

from psycopg import sql

LIMIT_TABLES = (
    sql.SQL(
        """
        CREATE TABLE user_limits (
            user_id text PRIMARY KEY,
            per_minute integer CHECK (per_minute >= 0),
            per_hour integer CHECK (per_hour >= 0),
            per_day integer CHECK (per_day >= 0),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    ),
)

GET_USER_LIMITS = sql.SQL(
    "SELECT per_minute, per_hour, per_day FROM user_limits WHERE user_id = %s")
# a window not given keeps what the row had (COALESCE with the row's value)
SET_USER_LIMITS = sql.SQL(
    """
    INSERT INTO user_limits AS u (user_id, per_minute, per_hour, per_day)
    VALUES (%(user_id)s, %(per_minute)s, %(per_hour)s, %(per_day)s)
    ON CONFLICT (user_id) DO UPDATE SET
        per_minute = COALESCE(EXCLUDED.per_minute, u.per_minute),
        per_hour = COALESCE(EXCLUDED.per_hour, u.per_hour),
        per_day = COALESCE(EXCLUDED.per_day, u.per_day),
        updated_at = now()
    RETURNING per_minute, per_hour, per_day
    """
)
CLEAR_USER_LIMITS = sql.SQL("DELETE FROM user_limits WHERE user_id = %s")
