"""Erasing one user: the audit log, the users erased lately and the guard of their writes.

Migration 8 adds:

- ``audit_log``: operator actions kept in the database (and so in a backup); an erasure is one
  row whose ``subject`` is the user's keyed hash, never the id.
- ``erased_users``: each erasure's keyed hash of the user id (``user_key``: SHA-256 of the
  service key ``erasure`` followed by the id) and the query log's hash of the id
  (``log_hash``, HMAC under the query log's key), with the time.
- ``rag_user_key(text)``: the keyed hash in SQL, the same as Python's
  (``rag_core.ops.erase.user_key``).
- Triggers that keep what a question already in flight when its user was erased would write
  back: within ``ERASE_GUARD_S`` of an erasure, a new answer record, verdict, reservation or
  query-log line of that user is dropped, and a cost or request count row goes to the
  anonymous ledger key (so the day's totals and the global cap stay right).
"""

from __future__ import annotations

from psycopg import sql

ANONYMOUS_USER = "~erased"  # never a user id (``~`` is outside the id rule): erased spend
ERASURE_KEY_NAME = "erasure"  # the row of ``service_keys`` that keys ``user_key``
ERASE_GUARD_S = 900  # how long writes in flight of an erased user are kept out

_RECENT = f"now() - make_interval(secs => {ERASE_GUARD_S})"

ERASURE_TABLES: tuple[sql.SQL | sql.Composed, ...] = (
    sql.SQL(
        """
        CREATE TABLE audit_log (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            action text NOT NULL,
            subject text NOT NULL,
            actor text,
            detail jsonb NOT NULL DEFAULT '{}'::jsonb
        )
        """
    ),
    sql.SQL(
        """
        CREATE TABLE erased_users (
            user_key text PRIMARY KEY,
            log_hash text NOT NULL,
            erased_at timestamptz NOT NULL DEFAULT now()
        )
        """
    ),
    sql.SQL("CREATE INDEX erased_users_at_idx ON erased_users (erased_at)"),
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_user_key(uid text) RETURNS text
        LANGUAGE sql STABLE AS $fn$
            SELECT encode(sha256(k.secret || convert_to(uid, 'UTF8')), 'hex')
            FROM service_keys k WHERE k.name = 'erasure'
        $fn$
        """
    ),
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_erased_lately(uid text) RETURNS boolean
        LANGUAGE plpgsql STABLE AS $fn$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM erased_users WHERE erased_at > """ + _RECENT + """)
            THEN
                RETURN false;
            END IF;
            RETURN EXISTS (SELECT 1 FROM erased_users
                           WHERE user_key = rag_user_key(uid) AND erased_at > """ + _RECENT + """);
        END
        $fn$
        """
    ),
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_drop_if_erased() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            IF rag_erased_lately(NEW.user_id) THEN
                RETURN NULL;
            END IF;
            RETURN NEW;
        END
        $fn$
        """
    ),
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_anonymous_if_erased() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            IF rag_erased_lately(NEW.user_id) THEN
                NEW.user_id := '""" + ANONYMOUS_USER + """';
            END IF;
            RETURN NEW;
        END
        $fn$
        """
    ),
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_drop_log_if_erased() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            IF EXISTS (SELECT 1 FROM erased_users
                       WHERE log_hash = NEW.user_hash AND erased_at > """ + _RECENT + """) THEN
                RETURN NULL;
            END IF;
            RETURN NEW;
        END
        $fn$
        """
    ),
    *(sql.SQL("CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
              "EXECUTE FUNCTION {func}()").format(
        name=sql.Identifier(f"{table}_erased_guard"), table=sql.Identifier(table),
        func=sql.Identifier(func))
      for table, func in (("answers", "rag_drop_if_erased"),
                          ("answer_feedback", "rag_drop_if_erased"),
                          ("cost_reservations", "rag_drop_if_erased"),
                          ("user_api_costs", "rag_anonymous_if_erased"),
                          ("request_counts", "rag_anonymous_if_erased"),
                          ("query_log", "rag_drop_log_if_erased"))),
)

# Migration 14: the key of ``user_key`` made with the schema (before, at the first erasure), so
# that a backup taken before any erasure still holds it and a restore can match the erasure
# log's hashes to the ids it brings back (``rag_core.ops.erasure_log``). 32 bytes from
# PostgreSQL's strong random source (two random UUIDs, 244 random bits).
ERASURE_KEY = (
    sql.SQL("INSERT INTO service_keys (name, secret) VALUES ({name}, "
            "uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())) "
            "ON CONFLICT (name) DO NOTHING").format(name=sql.Literal(ERASURE_KEY_NAME)),
)

# --- one user's rows ---------------------------------------------------------------------

# Every table of the schema with a ``user_id`` column (a table added later, limits included,
# is found without a change here).
USER_TABLES = sql.SQL(
    """
    SELECT c.table_name FROM information_schema.columns c
    JOIN information_schema.tables t
      ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = current_schema() AND c.column_name = 'user_id'
      AND t.table_type = 'BASE TABLE'
    ORDER BY c.table_name
    """
)


def has_rows(table: str) -> sql.Composed:
    return sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE user_id = %s)").format(
        sql.Identifier(table))


def delete_rows(table: str) -> sql.Composed:
    return sql.SQL("DELETE FROM {} WHERE user_id = %s").format(sql.Identifier(table))


HAS_LOG_LINES = sql.SQL("SELECT EXISTS (SELECT 1 FROM query_log WHERE user_hash = %s)")
DELETE_LOG_LINES = sql.SQL("DELETE FROM query_log WHERE user_hash = %s")

# The user's spend and request counts, day by day, added to the anonymous key's (then the
# user's rows go with the other tables').
MOVE_COSTS = sql.SQL(
    """
    INSERT INTO user_api_costs AS u (day, user_id, cost_usd, input_tokens, output_tokens, requests)
    SELECT day, %(anonymous)s, cost_usd, input_tokens, output_tokens, requests
    FROM user_api_costs WHERE user_id = %(user_id)s
    ON CONFLICT (day, user_id) DO UPDATE SET
        cost_usd = u.cost_usd + EXCLUDED.cost_usd,
        input_tokens = u.input_tokens + EXCLUDED.input_tokens,
        output_tokens = u.output_tokens + EXCLUDED.output_tokens,
        requests = u.requests + EXCLUDED.requests
    """
)
MOVE_REQUESTS = sql.SQL(
    """
    INSERT INTO request_counts AS r (day, user_id, outcome, requests)
    SELECT day, %(anonymous)s, outcome, requests FROM request_counts WHERE user_id = %(user_id)s
    ON CONFLICT (day, user_id, outcome) DO UPDATE SET requests = r.requests + EXCLUDED.requests
    """
)
ADD_ERASED = sql.SQL(
    """
    INSERT INTO erased_users (user_key, log_hash) VALUES (%s, %s)
    ON CONFLICT (user_key) DO UPDATE SET log_hash = EXCLUDED.log_hash, erased_at = now()
    """
)
ADD_AUDIT = sql.SQL(
    "INSERT INTO audit_log (action, subject, actor, detail) VALUES (%s, %s, %s, %s)")
