"""Schema: migrations, the lexical SQL functions and the BM25 statistics triggers.

Lexical search relies on SQL objects that the migrations create:

- ``rag_scripture_refs(text)``: extra lexemes for Bible references.  The english parser reads
  "Micah 6:8" as the words ``micah``, ``6`` and ``8``, so an OR query for it would match every
  note with a 6 or an 8.  The function adds compound lexemes ``micah6`` and ``micah6v8`` (book
  names lower-cased, a trailing "s" dropped so that "Psalm 23" meets "Psalms 23"), which the
  document and the question both get.
- ``rag_chunk_tsv(metadata, text)``: the stored ``tsv``: title, speaker, series, tags and
  scripture with weight A, the chunk text with weight B.  Reference lexemes go in through the
  ``simple`` parser so that they get positions (term frequencies are counted from positions).
- ``rag_query_lexemes(text)`` / ``rag_or_tsquery(text)``: the question's lexemes (english
  stemming, stop words dropped, plus reference lexemes) as an array and joined with OR, built
  lexeme by lexeme so that no user text is ever parsed as tsquery syntax.  Bare numbers of one
  to three digits are left out: alone they match any chunk with a "6" in it; within a reference
  the compound lexemes carry them.
- BM25 statistics (migration 3): ``chunks.lex_len`` (tokens of the chunk's tsv),
  ``lexeme_stats`` (document frequency of each lexeme among one user's chunks) and
  ``user_lexical_stats`` (chunks and total length per user).  Statement-level triggers on
  ``chunks`` keep them in the writing transaction, so a ranking reads the statistics of exactly
  the chunks its snapshot sees, never half an ingest.  Writers of one user are serialised by an
  advisory lock (see ``writes.LOCK_USER``); different users never share a statistics row.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from rag_core.store.sql.erasure import ERASURE_KEY, ERASURE_TABLES
from rag_core.store.sql.hnsw import create_hnsw_index
from rag_core.store.sql.ledger import LEDGER_TABLES, REQUEST_TABLES
from rag_core.store.sql.limits import LIMIT_TABLES
from rag_core.store.sql.note_history import NOTE_HISTORY_TABLES
from rag_core.store.sql.records import (
    PRIVACY_CHANGES,
    RECORD_TABLES,
    TRACE_CHANGES,
    VERDICT_WRITES,
)
from rag_core.store.sql.sources import SOURCE_TABLES


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


def migrations(dim: int, hnsw_m: int, hnsw_ef_construction: int,
               vector_type: str = "vector") -> list[Migration]:
    """The ordered migrations for a vector dimension and HNSW build parameters; the HNSW index
    of a new database is of ``vector_type`` (an existing one keeps its index: ``hnsw_index``).
    """
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
            create_hnsw_index(hnsw_m, hnsw_ef_construction, vector_type, dim),
        )),
        Migration(3, "bm25 statistics: chunk lengths, per-user document frequencies, triggers",
                  _BM25_STATISTICS),
        Migration(4, "answer records, verdicts on answers, the opt-in query log",
                  RECORD_TABLES),
        Migration(5, "note bodies, one verdict per user and answer, service keys",
                  PRIVACY_CHANGES),
        Migration(6, "cost reservations in flight, notes versions owed to Redis",
                  LEDGER_TABLES),
        Migration(7, "requests per user, day and outcome, paid or not", REQUEST_TABLES),
        Migration(8, "verdict writes counted per verdict window", VERDICT_WRITES),
        Migration(9, "a user's own request limits", LIMIT_TABLES),
        Migration(10, "the trace of each answer record", TRACE_CHANGES),
        Migration(11, "audit log, erased users, the guard of their writes", ERASURE_TABLES),
        Migration(12, "note sources: folder, file, file hash (sync)", SOURCE_TABLES),
        Migration(13, "note revisions and the trash of deleted notes", NOTE_HISTORY_TABLES),
        Migration(14, "the erasure key made with the schema", ERASURE_KEY),
    ]


# --- BM25 statistics (migration 3) --------------------------------------------------------

_STATS_TRIGGER = sql.SQL(
    """
    CREATE OR REPLACE FUNCTION rag_chunks_lexical_stats() RETURNS trigger
    LANGUAGE plpgsql AS $fn$
    BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            MERGE INTO user_lexical_stats s
            USING (SELECT user_id, count(*) AS n, sum(lex_len) AS len
                   FROM old_rows GROUP BY user_id) d
            ON s.user_id = d.user_id
            WHEN MATCHED AND s.chunks - d.n <= 0 THEN DELETE
            WHEN MATCHED THEN UPDATE
                SET chunks = s.chunks - d.n, total_length = s.total_length - d.len;
            MERGE INTO lexeme_stats s
            USING (SELECT o.user_id, t.lexeme, count(*) AS n
                   FROM old_rows o, unnest(o.tsv) AS t GROUP BY 1, 2 ORDER BY 1, 2) d
            ON s.user_id = d.user_id AND s.lexeme = d.lexeme
            WHEN MATCHED AND s.df - d.n <= 0 THEN DELETE
            WHEN MATCHED THEN UPDATE SET df = s.df - d.n;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO user_lexical_stats AS s (user_id, chunks, total_length)
            SELECT user_id, count(*), sum(lex_len) FROM new_rows
            GROUP BY user_id ORDER BY user_id
            ON CONFLICT (user_id) DO UPDATE
                SET chunks = s.chunks + EXCLUDED.chunks,
                    total_length = s.total_length + EXCLUDED.total_length;
            INSERT INTO lexeme_stats AS s (user_id, lexeme, df)
            SELECT n.user_id, t.lexeme, count(*)
            FROM new_rows n, unnest(n.tsv) AS t GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (user_id, lexeme) DO UPDATE SET df = s.df + EXCLUDED.df;
        END IF;
        RETURN NULL;
    END
    $fn$
    """
)

_BM25_STATISTICS = (
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_tsv_length(v tsvector) RETURNS integer
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
            SELECT coalesce(sum(coalesce(cardinality(t.positions), 1)), 0)::integer
            FROM unnest(v) AS t
        $fn$
        """
    ),
    sql.SQL(
        """
        CREATE OR REPLACE FUNCTION rag_query_lexemes(q text) RETURNS text[]
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
            SELECT coalesce(array_agg(DISTINCT lex ORDER BY lex), '{}'::text[])
            FROM unnest(tsvector_to_array(to_tsvector('english', coalesce(q, '')))
                        || rag_scripture_refs(q)) AS lex
            WHERE lex !~ '^[0-9]{1,3}$'
        $fn$
        """
    ),
    sql.SQL("ALTER TABLE chunks ADD COLUMN lex_len integer"),
    sql.SQL("UPDATE chunks SET lex_len = rag_tsv_length(tsv)"),
    sql.SQL("ALTER TABLE chunks ALTER COLUMN lex_len SET NOT NULL"),
    sql.SQL(
        """
        CREATE TABLE user_lexical_stats (
            user_id text PRIMARY KEY,
            chunks bigint NOT NULL,
            total_length bigint NOT NULL
        )
        """
    ),
    sql.SQL(
        """
        CREATE TABLE lexeme_stats (
            user_id text NOT NULL,
            lexeme text NOT NULL,
            df integer NOT NULL,
            PRIMARY KEY (user_id, lexeme)
        )
        """
    ),
    sql.SQL(
        """
        INSERT INTO user_lexical_stats (user_id, chunks, total_length)
        SELECT user_id, count(*), sum(lex_len) FROM chunks GROUP BY user_id
        """
    ),
    sql.SQL(
        """
        INSERT INTO lexeme_stats (user_id, lexeme, df)
        SELECT c.user_id, t.lexeme, count(*) FROM chunks c, unnest(c.tsv) AS t GROUP BY 1, 2
        """
    ),
    _STATS_TRIGGER,
    sql.SQL(
        """
        CREATE TRIGGER chunks_lexical_stats_insert AFTER INSERT ON chunks
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION rag_chunks_lexical_stats()
        """
    ),
    sql.SQL(
        """
        CREATE TRIGGER chunks_lexical_stats_delete AFTER DELETE ON chunks
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION rag_chunks_lexical_stats()
        """
    ),
    sql.SQL(
        """
        CREATE TRIGGER chunks_lexical_stats_update AFTER UPDATE ON chunks
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION rag_chunks_lexical_stats()
        """
    ),
)
