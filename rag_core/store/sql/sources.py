"""Where a note came from: the folder ``rag-core ingest`` or ``rag-core sync`` read it from, its
file there and the sha256 of that file's bytes (``rag_core.store.sources``).

A row goes with its note (``ON DELETE CASCADE``): deleting a note by any path forgets its
source. Notes written through the API have no row, so a sync never touches them.
"""

from __future__ import annotations

from psycopg import sql

SOURCE_TABLES = (
    sql.SQL(
        """
        CREATE TABLE note_sources (
            user_id text NOT NULL,
            note_id text NOT NULL,
            source text NOT NULL,
            path text NOT NULL,
            file_hash text NOT NULL,
            PRIMARY KEY (user_id, note_id),
            FOREIGN KEY (user_id, note_id) REFERENCES notes (user_id, note_id)
                ON DELETE CASCADE
        )
        """
    ),
    sql.SQL("CREATE INDEX note_sources_source_idx ON note_sources (user_id, source)"),
)
# Rows of notes that exist (a row whose note is gone has left with it).
RECORD_SOURCE = sql.SQL(
    """
    INSERT INTO note_sources (user_id, note_id, source, path, file_hash)
    SELECT %(user_id)s, n.note_id, %(source)s, %(path)s, %(file_hash)s
    FROM notes n WHERE n.user_id = %(user_id)s AND n.note_id = %(note_id)s
    ON CONFLICT (user_id, note_id) DO UPDATE
    SET source = EXCLUDED.source, path = EXCLUDED.path, file_hash = EXCLUDED.file_hash
    """
)
SOURCE_ROWS = sql.SQL(
    "SELECT note_id, path, file_hash FROM note_sources WHERE user_id = %s AND source = %s "
    "ORDER BY path, note_id"
)
