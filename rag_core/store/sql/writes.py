"""Writes and small reads of notes, chunks, versions and lexical statistics.

Chunks are written in bulk: the rows of a whole batch of notes are copied (binary ``COPY``) into
a temporary staging table of the session, then moved into ``chunks`` with one ``INSERT ...
SELECT`` that computes each row's ``tsv`` and ``lex_len``.  One statement means one firing of
the statistics trigger for the batch, inside the batch's transaction.
"""

from __future__ import annotations

from psycopg import sql

# First key of the two-key advisory lock that serialises the writes of one user: they share the
# rows of ``lexeme_stats`` and ``user_lexical_stats``, so two of them at once could deadlock.
USER_LOCK_NAMESPACE = 0x72616702

# --- notes and chunks ---------------------------------------------------------------------

LOCK_USER = sql.SQL("SELECT pg_advisory_xact_lock(%s::int4, hashtext(%s))")
NOTE_HASH = sql.SQL("SELECT content_hash FROM notes WHERE user_id = %s AND note_id = %s")
NOTE_HASHES = sql.SQL(
    "SELECT note_id, content_hash FROM notes WHERE user_id = %s AND note_id = ANY(%s)"
)
UPSERT_NOTE = sql.SQL(
    """
    INSERT INTO notes (user_id, note_id, content_hash, metadata, body, updated_at)
    VALUES (%s, %s, %s, %s, %s, now())
    ON CONFLICT (user_id, note_id) DO UPDATE
    SET content_hash = EXCLUDED.content_hash, metadata = EXCLUDED.metadata,
        body = EXCLUDED.body, updated_at = EXCLUDED.updated_at
    """
)
# One note as written: its fields, its body (NULL for a note stored before bodies were kept:
# then its chunks' texts in order), the time of its last change.
GET_NOTE = sql.SQL(
    """
    SELECT n.metadata, n.body, n.updated_at,
           CASE WHEN n.body IS NULL THEN
               (SELECT array_agg(c.text ORDER BY c.ordinal) FROM chunks c
                WHERE c.user_id = n.user_id AND c.note_id = n.note_id) END
    FROM notes n WHERE n.user_id = %s AND n.note_id = %s
    """
)
DELETE_NOTES_CHUNKS = sql.SQL("DELETE FROM chunks WHERE user_id = %s AND note_id = ANY(%s)")

# The staging table lives as long as the session (pooled connections keep it) and is emptied at
# every commit.  Its vector column has no dimension: the insert into chunks checks it.
CREATE_STAGING = sql.SQL(
    """
    CREATE TEMP TABLE IF NOT EXISTS rag_chunk_staging (
        chunk_id text, user_id text, note_id text, ordinal integer, text text,
        content_hash text, metadata jsonb, embedding vector
    ) ON COMMIT DELETE ROWS
    """
)
STAGING_COLUMNS = ("text", "text", "text", "int4", "text", "text", "jsonb", "vector")
COPY_STAGING = sql.SQL(
    """
    COPY rag_chunk_staging (chunk_id, user_id, note_id, ordinal, text, content_hash, metadata,
                            embedding) FROM STDIN WITH (FORMAT BINARY)
    """
)
INSERT_STAGED_CHUNKS = sql.SQL(
    """
    INSERT INTO chunks (chunk_id, user_id, note_id, ordinal, text, content_hash, metadata,
                        embedding, tsv, lex_len)
    SELECT chunk_id, user_id, note_id, ordinal, text, content_hash, metadata, embedding,
           tsv, rag_tsv_length(tsv)
    FROM (SELECT s.*, rag_chunk_tsv(s.metadata, s.text) AS tsv FROM rag_chunk_staging s) v
    """
)
DELETE_NOTE = sql.SQL("DELETE FROM notes WHERE user_id = %s AND note_id = %s RETURNING note_id")
# Bumped by the number of notes changed (one per add, edit or delete).
BUMP_VERSION = sql.SQL(
    """
    INSERT INTO notes_versions (user_id, version) VALUES (%s, %s)
    ON CONFLICT (user_id) DO UPDATE SET version = notes_versions.version + EXCLUDED.version
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
USER_TEXTS = sql.SQL(
    "SELECT note_id, text, metadata FROM chunks WHERE user_id = %s ORDER BY note_id, ordinal")
USERS = sql.SQL("SELECT DISTINCT user_id FROM notes ORDER BY user_id")
PING = sql.SQL("SELECT 1")

# --- lexical statistics (read by tests and --explain) ---------------------------------------

USER_LEXICAL_STATS = sql.SQL(
    "SELECT chunks, total_length FROM user_lexical_stats WHERE user_id = %s"
)
LEXEME_DFS = sql.SQL(
    "SELECT lexeme, df FROM lexeme_stats WHERE user_id = %s AND lexeme = ANY(%s)"
)
QUERY_LEXEMES = sql.SQL("SELECT rag_query_lexemes(%s)")

