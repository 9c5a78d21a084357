"""Every SQL statement of the project, in one module.

Queries are ``psycopg.sql`` objects with bind parameters; values never enter the text.  The few
numbers that DDL needs (vector dimension, HNSW ``m`` / ``ef_construction``) are validated
integers from Settings and enter as ``sql.Literal``.

Lexical search relies on three SQL objects that the first migration creates:

- ``rag_scripture_refs(text)``: extra lexemes for Bible references.  The english parser reads
  "Micah 6:8" as the words ``micah``, ``6`` and ``8``, so an OR query for it would match every
  note with a 6 or an 8.  The function adds compound lexemes ``micah6`` and ``micah6v8`` (book
  names lower-cased, a trailing "s" dropped so that "Psalm 23" meets "Psalms 23"), which the
  document and the question both get.
- ``rag_chunk_tsv(metadata, text)``: the stored ``tsv``: title, speaker, series, tags and
  scripture with weight A, the chunk text with weight B.  Reference lexemes go in through the
  ``simple`` parser so that they get positions: ``ts_rank_cd`` ignores lexemes without one.
- ``rag_or_tsquery(text)``: the question's lexemes (english stemming, stop words dropped) and
  reference lexemes joined with OR, built lexeme by lexeme so that no user text is ever parsed
  as tsquery syntax.  Bare numbers of one to three digits are left out of the OR: alone they
  match any chunk with a "6" in it; within a reference the compound lexemes carry them.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

# Key of the transaction-level advisory lock that serialises migrations across processes.
MIGRATION_LOCK_KEY = 0x7261675F636F7265  # "rag_core"
# First key of the two-key advisory locks that serialise writes to one note.
NOTE_LOCK_NAMESPACE = 0x72616701


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[sql.SQL | sql.Composed, ...]


# --- schema -------------------------------------------------------------------------------

LOCK_MIGRATIONS = sql.SQL("SELECT pg_advisory_xact_lock(%s)")
NO_STATEMENT_TIMEOUT = sql.SQL("SELECT set_config('statement_timeout', '0', true)")
CREATE_MIGRATIONS_TABLE = sql.SQL(
    """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    )
    """
)
APPLIED_MIGRATIONS = sql.SQL("SELECT version FROM schema_migrations ORDER BY version")
RECORD_MIGRATION = sql.SQL("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)")
EMBEDDING_TYPE = sql.SQL(
    """
    SELECT format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'
    """
)

_REF_PATTERN = r"\m([a-z]{2,})\.?\s+(\d{1,3})(?::(\d{1,3}))?\M"

_FUNCTIONS = (
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_scripture_refs(t text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
            SELECT coalesce(array_agg(DISTINCT r), '{{}}'::text[]) FROM (
                SELECT regexp_replace(m[1], 's$', '') || m[2] AS r
                FROM regexp_matches(lower(coalesce(t, '')), {pattern}, 'g') AS m
                UNION ALL
                SELECT regexp_replace(m[1], 's$', '') || m[2] || 'v' || m[3]
                FROM regexp_matches(lower(coalesce(t, '')), {pattern}, 'g') AS m
                WHERE m[3] IS NOT NULL
            ) refs
        $fn$
        """
    ).format(pattern=sql.Literal(_REF_PATTERN)),
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_metadata_text(m jsonb) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
            SELECT concat_ws(' ',
                m->>'title', m->>'speaker', m->>'series',
                (SELECT string_agg(x, ' ') FROM jsonb_array_elements_text(
                    CASE WHEN jsonb_typeof(m->'tags') = 'array' THEN m->'tags'
                         ELSE '[]'::jsonb END) AS x),
                (SELECT string_agg(x, ' ; ') FROM jsonb_array_elements_text(
                    CASE WHEN jsonb_typeof(m->'scripture') = 'array' THEN m->'scripture'
                         ELSE '[]'::jsonb END) AS x))
        $fn$
        """
    ),
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_chunk_tsv(m jsonb, body text) RETURNS tsvector
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
            SELECT setweight(to_tsvector('english', rag_metadata_text(m)), 'A')
                || setweight(to_tsvector('simple', array_to_string(
                       rag_scripture_refs(rag_metadata_text(m)), ' ')), 'A')
                || setweight(to_tsvector('english', coalesce(body, '')), 'B')
                || setweight(to_tsvector('simple', array_to_string(
                       rag_scripture_refs(body), ' ')), 'B')
        $fn$
        """
    ),
    sql.SQL(
        """
        CREATE OR REPLACE AGGREGATE rag_tsquery_or_agg(tsquery) (
            SFUNC = tsquery_or, STYPE = tsquery
        )
        """
    ),
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_or_tsquery(q text) RETURNS tsquery
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
            SELECT rag_tsquery_or_agg(plainto_tsquery('simple', lex))
            FROM unnest(tsvector_to_array(to_tsvector('english', coalesce(q, '')))
                        || rag_scripture_refs(q)) AS lex
            WHERE lex !~ '^[0-9]{1,3}$'
        $fn$
        """
    ),
)


def migrations(dim: int, hnsw_m: int, hnsw_ef_construction: int) -> list[Migration]:
    """The ordered migrations for a vector dimension and HNSW build parameters."""
    tables = (
        sql.SQL("CREATE EXTENSION IF NOT EXISTS vector"),
        sql.SQL(
            """
            CREATE TABLE notes (
                user_id text NOT NULL,
                note_id text NOT NULL,
                content_hash text NOT NULL,
                metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (user_id, note_id)
            )
            """
        ),
        sql.SQL(
            """
            CREATE TABLE chunks (
                chunk_id text PRIMARY KEY,
                user_id text NOT NULL,
                note_id text NOT NULL,
                ordinal integer NOT NULL,
                text text NOT NULL,
                content_hash text NOT NULL,
                metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb,
                embedding vector({dim}) NOT NULL,
                tsv tsvector NOT NULL,
                FOREIGN KEY (user_id, note_id) REFERENCES notes (user_id, note_id)
                    ON DELETE CASCADE
            )
            """
        ).format(dim=sql.Literal(int(dim))),
        sql.SQL("CREATE INDEX chunks_user_note_idx ON chunks (user_id, note_id)"),
        sql.SQL("CREATE INDEX chunks_tsv_idx ON chunks USING gin (tsv)"),
        sql.SQL(
            """
            CREATE TABLE notes_versions (
                user_id text PRIMARY KEY,
                version bigint NOT NULL DEFAULT 0
            )
            """
        ),
        sql.SQL(
            """
            CREATE TABLE user_api_costs (
                day date NOT NULL,
                user_id text NOT NULL,
                cost_usd numeric NOT NULL DEFAULT 0,
                input_tokens bigint NOT NULL DEFAULT 0,
                output_tokens bigint NOT NULL DEFAULT 0,
                requests bigint NOT NULL DEFAULT 0,
                PRIMARY KEY (day, user_id)
            )
            """
        ),
        *_FUNCTIONS,
    )
    return [
        Migration(1, "tables, lexical functions, btree and gin indexes", tables),
        Migration(2, "hnsw index on chunks.embedding", (
            create_hnsw_index(hnsw_m, hnsw_ef_construction),
        )),
    ]


def create_hnsw_index(m: int, ef_construction: int) -> sql.Composed:
    return sql.SQL(
        "CREATE INDEX IF NOT EXISTS chunks_embedding_hnsw_idx ON chunks "
        "USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef})"
    ).format(m=sql.Literal(int(m)), ef=sql.Literal(int(ef_construction)))


DROP_HNSW_INDEX = sql.SQL("DROP INDEX IF EXISTS chunks_embedding_hnsw_idx")

# --- session settings of a search transaction --------------------------------------------

# set_config(..., true) is SET LOCAL with bind parameters: it ends with the transaction.
SET_SEARCH_PARAMS = sql.SQL(
    """
    SELECT set_config('hnsw.ef_search', %s, true),
           set_config('hnsw.iterative_scan', %s, true),
           set_config('hnsw.max_scan_tuples', %s, true)
    """
)

# --- notes and chunks ---------------------------------------------------------------------

LOCK_NOTE = sql.SQL("SELECT pg_advisory_xact_lock(%s::int4, hashtext(%s))")
NOTE_HASH = sql.SQL("SELECT content_hash FROM notes WHERE user_id = %s AND note_id = %s")
UPSERT_NOTE = sql.SQL(
    """
    INSERT INTO notes (user_id, note_id, content_hash, metadata, updated_at)
    VALUES (%s, %s, %s, %s, now())
    ON CONFLICT (user_id, note_id) DO UPDATE
    SET content_hash = EXCLUDED.content_hash, metadata = EXCLUDED.metadata,
        updated_at = EXCLUDED.updated_at
    """
)
DELETE_NOTE_CHUNKS = sql.SQL("DELETE FROM chunks WHERE user_id = %s AND note_id = %s")
INSERT_CHUNK = sql.SQL(
    """
    INSERT INTO chunks (chunk_id, user_id, note_id, ordinal, text, content_hash, metadata,
                        embedding, tsv)
    VALUES (%(chunk_id)s, %(user_id)s, %(note_id)s, %(ordinal)s, %(text)s, %(content_hash)s,
            %(metadata)s, %(embedding)s, rag_chunk_tsv(%(metadata)s, %(text)s))
    """
)
DELETE_NOTE = sql.SQL("DELETE FROM notes WHERE user_id = %s AND note_id = %s RETURNING note_id")
BUMP_VERSION = sql.SQL(
    """
    INSERT INTO notes_versions (user_id, version) VALUES (%s, 1)
    ON CONFLICT (user_id) DO UPDATE SET version = notes_versions.version + 1
    RETURNING version
    """
)
NOTES_VERSION = sql.SQL("SELECT version FROM notes_versions WHERE user_id = %s")
LIST_NOTES = sql.SQL(
    """
    SELECT n.note_id, n.content_hash, n.metadata, n.updated_at,
           (SELECT count(*) FROM chunks c
            WHERE c.user_id = n.user_id AND c.note_id = n.note_id) AS chunks
    FROM notes n WHERE n.user_id = %(user_id)s AND n.note_id > %(after)s
    ORDER BY n.note_id LIMIT %(limit)s
    """
)
COUNT_CHUNKS = sql.SQL("SELECT count(*) FROM chunks")
COUNT_USER_CHUNKS = sql.SQL("SELECT count(*) FROM chunks WHERE user_id = %s")
USERS = sql.SQL("SELECT DISTINCT user_id FROM notes ORDER BY user_id")
PING = sql.SQL("SELECT 1")

# --- search -------------------------------------------------------------------------------
# All three return the same columns:
#   chunk_id, note_id, user_id, ordinal, text, metadata, score, dense_rank, lexical_rank, fused

# The materialised CTE keeps the (possibly index-driven, relaxed-order) scan separate from the
# final exact ordering, as pgvector recommends for iterative scans.
SEARCH_DENSE = sql.SQL(
    """
    WITH d AS MATERIALIZED (
        SELECT chunk_id, note_id, user_id, ordinal, text, metadata,
               embedding <=> %(embedding)s AS distance
        FROM chunks
        WHERE user_id = %(user_id)s
        ORDER BY distance
        LIMIT %(top_k)s
    )
    SELECT chunk_id, note_id, user_id, ordinal, text, metadata,
           1 - distance AS score,
           row_number() OVER (ORDER BY distance, chunk_id) AS dense_rank,
           NULL::bigint AS lexical_rank, NULL::float8 AS fused
    FROM d
    ORDER BY distance, chunk_id
    """
)

# Without a query vector the score is the lexical rank value (there is no cosine to give).
SEARCH_LEXICAL = sql.SQL(
    """
    WITH q AS MATERIALIZED (SELECT rag_or_tsquery(%(query)s) AS tq),
    l AS MATERIALIZED (
        SELECT c.chunk_id, c.note_id, c.user_id, c.ordinal, c.text, c.metadata, c.embedding,
               ts_rank_cd(c.tsv, q.tq, 33) AS rank
        FROM chunks c, q
        WHERE c.user_id = %(user_id)s AND c.tsv @@ q.tq
        ORDER BY rank DESC, c.chunk_id
        LIMIT %(top_k)s
    )
    SELECT chunk_id, note_id, user_id, ordinal, text, metadata,
           CASE WHEN %(has_embedding)s THEN 1 - (embedding <=> %(embedding)s)
                ELSE rank END AS score,
           NULL::bigint AS dense_rank,
           row_number() OVER (ORDER BY rank DESC, chunk_id) AS lexical_rank,
           NULL::float8 AS fused
    FROM l
    ORDER BY rank DESC, chunk_id
    """
)

# Reciprocal-rank fusion of a dense and a lexical candidate list, each %(depth)s deep.
SEARCH_HYBRID = sql.SQL(
    """
    WITH q AS MATERIALIZED (SELECT rag_or_tsquery(%(query)s) AS tq),
    d AS MATERIALIZED (
        SELECT chunk_id, embedding <=> %(embedding)s AS distance
        FROM chunks
        WHERE user_id = %(user_id)s
        ORDER BY distance
        LIMIT %(depth)s
    ),
    dr AS (
        SELECT chunk_id, row_number() OVER (ORDER BY distance, chunk_id) AS rnk FROM d
    ),
    l AS MATERIALIZED (
        SELECT c.chunk_id, ts_rank_cd(c.tsv, q.tq, 33) AS rank
        FROM chunks c, q
        WHERE c.user_id = %(user_id)s AND c.tsv @@ q.tq
        ORDER BY rank DESC, c.chunk_id
        LIMIT %(depth)s
    ),
    lr AS (
        SELECT chunk_id, row_number() OVER (ORDER BY rank DESC, chunk_id) AS rnk FROM l
    ),
    f AS (
        SELECT coalesce(dr.chunk_id, lr.chunk_id) AS chunk_id,
               dr.rnk AS dense_rank, lr.rnk AS lexical_rank,
               coalesce(1.0 / (%(rrf_k)s + dr.rnk), 0)
                 + coalesce(1.0 / (%(rrf_k)s + lr.rnk), 0) AS fused
        FROM dr FULL OUTER JOIN lr ON dr.chunk_id = lr.chunk_id
    )
    SELECT c.chunk_id, c.note_id, c.user_id, c.ordinal, c.text, c.metadata,
           1 - (c.embedding <=> %(embedding)s) AS score,
           f.dense_rank, f.lexical_rank, f.fused::float8 AS fused
    FROM f JOIN chunks c ON c.chunk_id = f.chunk_id AND c.user_id = %(user_id)s
    ORDER BY f.fused DESC, f.dense_rank NULLS LAST, f.lexical_rank NULLS LAST, c.chunk_id
    LIMIT %(top_k)s
    """
)

# --- API costs ------------------------------------------------------------------------------

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
