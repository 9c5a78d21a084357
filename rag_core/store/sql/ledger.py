"""What several processes must agree on through PostgreSQL: cost rows, the reservations of
generations in flight, and the notes versions that Redis has not taken yet.

- ``user_api_costs``: the day's spend per user (the ledger's durable record).
- ``cost_reservations``: one row per paid generation between its reservation and its commit or
  release. A Redis that lost its memory is seeded with the reservations of *every* process
  from here, so that a process that dies (or whose Redis lost its reservations) cannot make
  room for more than the cap. Rows older than the longest a generation may take are stale (a
  worker killed mid-answer) and no longer count.
- ``request_counts``: every request of a user and day by its outcome (the labels of
  ``assistant_requests_total``: generated, declined, cached, stale, degraded, refused, no_context,
  error), paid or not, so that ``rag-core costs report`` counts those that cost nothing too;
  ``rejected:<CODE>``: a request the API turned away before the pipeline (``api.refusals``),
  of user ``''`` when its caller is not known.
- ``notes_version_debts``: a user's notes version from the moment a note changes (same
  transaction) until a process has written it to Redis and purged the older answers. A process
  that dies before that leaves the row, and every other process reads that user's version from
  PostgreSQL until one of them redoes the write. The same transaction notifies
  ``rag_notes_version_debts`` (``VERSION_DEBTS_CHANNEL``), so the others hear of it on commit.
"""

from __future__ import annotations

from psycopg import sql

LEDGER_TABLES = (
    sql.SQL(
        """
        CREATE TABLE cost_reservations (
            reservation_id text PRIMARY KEY,
            day date NOT NULL,
            user_id text NOT NULL,
            estimate_usd numeric NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    ),
    sql.SQL("CREATE INDEX cost_reservations_day_idx ON cost_reservations (day, user_id)"),
    sql.SQL(
        """
        CREATE TABLE notes_version_debts (
            user_id text PRIMARY KEY,
            version bigint NOT NULL,
            since timestamptz NOT NULL DEFAULT now()
        )
        """
    ),
)

REQUEST_TABLES = (
    sql.SQL(
        """
        CREATE TABLE request_counts (
            day date NOT NULL,
            user_id text NOT NULL,
            outcome text NOT NULL,
            requests bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (day, user_id, outcome)
        )
        """
    ),
)

# --- cost rows --------------------------------------------------------------------------------

ADD_COST = sql.SQL(
    """
    INSERT INTO user_api_costs AS u (day, user_id, cost_usd, input_tokens, output_tokens, requests)
    VALUES (%s, %s, %s, %s, %s, %s)
    ON CONFLICT (day, user_id) DO UPDATE SET
        cost_usd = u.cost_usd + EXCLUDED.cost_usd,
        input_tokens = u.input_tokens + EXCLUDED.input_tokens,
        output_tokens = u.output_tokens + EXCLUDED.output_tokens,
        requests = u.requests + EXCLUDED.requests
    RETURNING day, user_id, cost_usd::float8, input_tokens, output_tokens, requests
    """
)
DAY_TOTALS = sql.SQL(
    """
    SELECT coalesce(sum(cost_usd) FILTER (WHERE user_id = %(user_id)s), 0)::float8,
           coalesce(sum(cost_usd), 0)::float8
    FROM user_api_costs WHERE day = %(day)s
    """
)
COSTS_FOR_DAY = sql.SQL(
    """
    SELECT day, user_id, cost_usd::float8, input_tokens, output_tokens, requests
    FROM user_api_costs WHERE day = %s
    ORDER BY cost_usd DESC, user_id
    """
)

# --- requests by outcome ----------------------------------------------------------------------

# Counts added in one statement: arrays of days, users, outcomes and counts, one element a row.
ADD_REQUESTS = sql.SQL(
    """
    INSERT INTO request_counts AS r (day, user_id, outcome, requests)
    SELECT * FROM unnest(%s::date[], %s::text[], %s::text[], %s::bigint[])
    ON CONFLICT (day, user_id, outcome) DO UPDATE SET requests = r.requests + EXCLUDED.requests
    """
)
REQUESTS_FOR_DAY = sql.SQL(
    "SELECT user_id, outcome, requests FROM request_counts WHERE day = %s "
    "ORDER BY user_id, outcome"
)

# --- reservations -----------------------------------------------------------------------------

ADD_RESERVATION = sql.SQL(
    "INSERT INTO cost_reservations (reservation_id, day, user_id, estimate_usd) "
    "VALUES (%s, %s, %s, %s)"
)
DROP_RESERVATION = sql.SQL("DELETE FROM cost_reservations WHERE reservation_id = %s")
# The day's spend and open reservations (younger than %(max_age_s)s seconds), the user's and
# everyone's, in one snapshot: a commit moves a reservation into the spend in one transaction,
# so it is counted once, on one side or the other.
DAY_STATE = sql.SQL(
    """
    SELECT coalesce((SELECT sum(cost_usd) FROM user_api_costs
                     WHERE day = %(day)s AND user_id = %(user_id)s), 0)::float8,
           coalesce((SELECT sum(cost_usd) FROM user_api_costs WHERE day = %(day)s), 0)::float8,
           coalesce(sum(estimate_usd) FILTER (WHERE user_id = %(user_id)s), 0)::float8,
           coalesce(sum(estimate_usd), 0)::float8
    FROM cost_reservations
    WHERE day = %(day)s AND created_at > now() - make_interval(secs => %(max_age_s)s)
    """
)
PRUNE_RESERVATIONS = sql.SQL(
    "DELETE FROM cost_reservations WHERE created_at < now() - make_interval(secs => %s)"
)

# --- notes versions Redis has not taken yet -------------------------------------------------

# The version as ``BUMP_VERSION`` (writes.py) left it, owed to Redis from now on.
OWE_VERSION = sql.SQL(
    """
    INSERT INTO notes_version_debts (user_id, version) VALUES (%s, %s)
    ON CONFLICT (user_id) DO UPDATE
    SET version = greatest(notes_version_debts.version, EXCLUDED.version), since = now()
    """
)
# Every owed version with the user's version now, and how long it has been owed (seconds).
VERSION_DEBTS = sql.SQL(
    """
    SELECT d.user_id, v.version, extract(epoch FROM now() - d.since)::float8
    FROM notes_version_debts d JOIN notes_versions v USING (user_id)
    ORDER BY d.since LIMIT %s
    """
)
SETTLE_VERSION = sql.SQL(
    "DELETE FROM notes_version_debts WHERE user_id = %s AND version <= %s"
)
# Every process holding a poll of the debts also listens here: the note change's transaction
# announces the version (``version:user_id``), and PostgreSQL delivers it only on commit.
VERSION_DEBTS_CHANNEL = "rag_notes_version_debts"
NOTIFY_VERSION = sql.SQL("SELECT pg_notify(%s, %s::text || ':' || %s)")
LISTEN_VERSIONS = sql.SQL("LISTEN {}").format(sql.Identifier(VERSION_DEBTS_CHANNEL))
