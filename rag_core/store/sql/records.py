"""Answer records, verdicts on answers and the opt-in query log (``rag_core.store.records``).

- ``answers``: one row per answer the service made (not per cache hit): who got it, the L1 key
  it was cached under, the semantic entry it lives in and, for a reused answer, the record it
  was reused from. No question or answer text: that is read from the cache entry when a user
  gives a verdict.
- ``answer_feedback``: the verdicts, with the question and answer as they were at the verdict.
- ``query_log``: what ``RAG_QUERY_LOG=on`` keeps (question text, time, user hash, the cache
  outcome and the cost), pruned to ``fixed.QUERY_LOG_DAYS`` (30).
"""

from __future__ import annotations

from psycopg import sql

RECORD_TABLES = (
    sql.SQL(
        """
        CREATE TABLE answers (
            answer_id text PRIMARY KEY,
            user_id text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            source text NOT NULL,
            cache_key text NOT NULL DEFAULT '',
            notes_version bigint NOT NULL DEFAULT 0,
            semantic_field text,
            origin_id text
        )
        """
    ),
    sql.SQL("CREATE INDEX answers_origin_idx ON answers (origin_id) "
            "WHERE origin_id IS NOT NULL"),
    sql.SQL("CREATE INDEX answers_created_idx ON answers (created_at)"),
    sql.SQL(
        """
        CREATE TABLE answer_feedback (
            id bigserial PRIMARY KEY,
            answer_id text NOT NULL,
            user_id text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            verdict text NOT NULL CHECK (verdict IN ('wrong', 'right')),
            source text NOT NULL,
            comment text,
            question text NOT NULL DEFAULT '',
            answer text NOT NULL DEFAULT '',
            matched_question text,
            no_context boolean NOT NULL DEFAULT false,
            note_ids jsonb NOT NULL DEFAULT '[]'::jsonb
        )
        """
    ),
    sql.SQL("CREATE INDEX answer_feedback_created_idx ON answer_feedback (created_at)"),
    sql.SQL(
        """
        CREATE TABLE query_log (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            user_hash text NOT NULL,
            question text NOT NULL,
            outcome text NOT NULL,
            cost_usd double precision NOT NULL DEFAULT 0
        )
        """
    ),
    sql.SQL("CREATE INDEX query_log_at_idx ON query_log (at)"),
)

# Migration 5: each note's body as written (``GET /v1/notes/{id}``), one verdict per user and
# answer (older duplicates: the latest kept), and the service's own keys (the query log's
# hashing key when ``RAG_QUERY_LOG_KEY`` is unset).
PRIVACY_CHANGES = (
    sql.SQL("ALTER TABLE notes ADD COLUMN IF NOT EXISTS body text"),
    sql.SQL(
        """
        DELETE FROM answer_feedback f USING answer_feedback g
        WHERE f.user_id = g.user_id AND f.answer_id = g.answer_id AND f.id < g.id
        """
    ),
    sql.SQL("CREATE UNIQUE INDEX answer_feedback_user_answer_idx "
            "ON answer_feedback (user_id, answer_id)"),
    sql.SQL(
        """
        CREATE TABLE service_keys (
            name text PRIMARY KEY,
            secret bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    ),
)

# Migration 8: how many times a verdict was given or changed within the verdict window, so
# that changing one verdict over and over counts against the per-user rate of verdicts.
VERDICT_WRITES = (
    sql.SQL("ALTER TABLE answer_feedback ADD COLUMN IF NOT EXISTS writes integer NOT NULL "
            "DEFAULT 1"),
)

# Migration 10: the trace of each answer (hex trace and span id of its ``assistant.query``
# span), so that a verdict on it lands in that trace as a ``gen_ai.evaluation.result`` event.
TRACE_CHANGES = (
    sql.SQL("ALTER TABLE answers ADD COLUMN IF NOT EXISTS trace_id text"),
    sql.SQL("ALTER TABLE answers ADD COLUMN IF NOT EXISTS span_id text"),
)

ADD_ANSWER = sql.SQL(
    """
    INSERT INTO answers (answer_id, user_id, source, cache_key, notes_version, semantic_field,
                         origin_id, trace_id, span_id)
    VALUES (%(answer_id)s, %(user_id)s, %(source)s, %(cache_key)s, %(notes_version)s,
            %(semantic_field)s, %(origin_id)s, %(trace_id)s, %(span_id)s)
    """
)
GET_ANSWER = sql.SQL(
    """
    SELECT answer_id, user_id, source, cache_key, notes_version, semantic_field, origin_id,
           created_at, trace_id, span_id
    FROM answers WHERE answer_id = %s
    """
)
REUSES_OF = sql.SQL(
    """
    SELECT answer_id, user_id, source, cache_key, notes_version, semantic_field, origin_id,
           created_at, trace_id, span_id
    FROM answers WHERE origin_id = %s AND user_id = %s
    """
)
PRUNE_ANSWERS = sql.SQL("DELETE FROM answers WHERE created_at < now() - make_interval(days => %s)")
ADD_FEEDBACK = sql.SQL(
    """
    INSERT INTO answer_feedback (answer_id, user_id, verdict, source, comment, question, answer,
                                 matched_question, no_context, note_ids)
    VALUES (%(answer_id)s, %(user_id)s, %(verdict)s, %(source)s, %(comment)s, %(question)s,
            %(answer)s, %(matched_question)s, %(no_context)s, %(note_ids)s)
    ON CONFLICT (user_id, answer_id) DO UPDATE
    SET writes = CASE WHEN answer_feedback.created_at > %(window_start)s
                      THEN answer_feedback.writes + 1 ELSE 1 END,
        created_at = now(), verdict = EXCLUDED.verdict, source = EXCLUDED.source,
        comment = EXCLUDED.comment, question = EXCLUDED.question, answer = EXCLUDED.answer,
        matched_question = EXCLUDED.matched_question, no_context = EXCLUDED.no_context,
        note_ids = EXCLUDED.note_ids
    RETURNING id, created_at
    """
)
# A user's verdicts given or changed since a time (the per-user rate of verdicts): a verdict
# last written in the window counts each write since its window began.
COUNT_RECENT_FEEDBACK = sql.SQL(
    "SELECT coalesce(sum(writes), 0) FROM answer_feedback WHERE user_id = %s AND created_at > %s")
# A deleted note's text out of the verdicts whose answers cited it: the question, the answer,
# the comment and the matched question are blanked and the note's id taken off the list; the
# verdict itself (wrong or right, and where the answer came from) stays for the counts.
REDACT_FEEDBACK = sql.SQL(
    """
    UPDATE answer_feedback
    SET question = '', answer = '', comment = NULL, matched_question = NULL,
        note_ids = note_ids - %(note_id)s
    WHERE user_id = %(user_id)s AND note_ids ? %(note_id)s
    """
)
PRUNE_FEEDBACK = sql.SQL(
    "DELETE FROM answer_feedback WHERE created_at < now() - make_interval(days => %s)")
PURGE_FEEDBACK = sql.SQL("DELETE FROM answer_feedback")
LIST_FEEDBACK = sql.SQL(
    """
    SELECT id, answer_id, user_id, created_at, verdict, source, comment, question, answer,
           matched_question, no_context, note_ids
    FROM answer_feedback ORDER BY id
    """
)
ADD_QUERY = sql.SQL(
    """
    INSERT INTO query_log (user_hash, question, outcome, cost_usd)
    VALUES (%(user_hash)s, %(question)s, %(outcome)s, %(cost_usd)s)
    """
)
LIST_QUERIES = sql.SQL(
    """
    SELECT at, user_hash, question, outcome, cost_usd FROM query_log
    WHERE at >= now() - make_interval(days => %s) ORDER BY at, id
    """
)
PRUNE_QUERIES = sql.SQL("DELETE FROM query_log WHERE at < now() - make_interval(days => %s)")
PURGE_QUERIES = sql.SQL("DELETE FROM query_log")
# A key of the service, made once: the first process to need it stores its random bytes, every
# later one reads them.
ADD_SERVICE_KEY = sql.SQL(
    "INSERT INTO service_keys (name, secret) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING")
GET_SERVICE_KEY = sql.SQL("SELECT secret FROM service_keys WHERE name = %s")
