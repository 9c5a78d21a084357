"""A note's earlier texts and the trash of deleted notes (``rag_core.store.note_history``).

Migration 13 adds:

- ``note_revisions``: a note's text and fields as they were before a change replaced them
  (``written_at``: when that text was written; ``replaced_at``: when it was replaced), the
  newest ``RAG_NOTE_REVISIONS`` of each note kept.
- ``note_trash``: each deleted note's last text and fields, one row per note, until
  ``RAG_NOTE_TRASH_DAYS`` after its delete; then the row and the note's revisions go.

Neither table has chunks or vectors: nothing in them is ever searched, cited or cached. A note
written again under the id of a note in the trash takes the trashed text as its revision (the
trash holds notes that are gone, nothing else). Both tables carry ``user_id``, so an erasure
takes them with the user's other rows (``sql.erasure.USER_TABLES``).
"""

from __future__ import annotations

from psycopg import sql

NOTE_HISTORY_TABLES = (
    sql.SQL(
        """
        CREATE TABLE note_revisions (
            revision bigserial PRIMARY KEY,
            user_id text NOT NULL,
            note_id text NOT NULL,
            content_hash text NOT NULL,
            metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
            body text NOT NULL,
            written_at timestamptz NOT NULL,
            replaced_at timestamptz NOT NULL
        )
        """
    ),
    sql.SQL("CREATE INDEX note_revisions_note_idx ON note_revisions (user_id, note_id, revision)"),
    sql.SQL(
        """
        CREATE TABLE note_trash (
            user_id text NOT NULL,
            note_id text NOT NULL,
            content_hash text NOT NULL,
            metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
            body text NOT NULL,
            written_at timestamptz NOT NULL,
            deleted_at timestamptz NOT NULL,
            PRIMARY KEY (user_id, note_id)
        )
        """
    ),
    sql.SQL("CREATE INDEX note_trash_deleted_idx ON note_trash (deleted_at)"),
)

# A note's body as stored; a note stored before bodies were kept: its chunks' texts in order.
_BODY = """coalesce(n.body, (SELECT string_agg(c.text, E'\\n\\n' ORDER BY c.ordinal)
                            FROM chunks c WHERE c.user_id = n.user_id AND c.note_id = n.note_id),
                   '')"""

# The new texts of a write: (note id, body, fields as JSON text), one array each.
_NEW = "unnest(%(ids)s::text[], %(bodies)s::text[], %(metas)s::text[]) AS w(note_id, body, meta)"

# Before a write replaces live notes: their texts become revisions, unless the write leaves
# text and fields as they were (a re-chunking changes the hash, not the text).
KEEP_REVISIONS = sql.SQL(
    "INSERT INTO note_revisions (user_id, note_id, content_hash, metadata, body, written_at, "
    "replaced_at) "
    "SELECT n.user_id, n.note_id, n.content_hash, n.metadata, " + _BODY + ", n.updated_at, "
    "%(now)s FROM notes n JOIN " + _NEW + " ON w.note_id = n.note_id "
    "WHERE n.user_id = %(user_id)s "
    "AND (n.body IS DISTINCT FROM w.body OR n.metadata <> w.meta::jsonb)"
)
# A note written again under the id of a note in the trash: the trashed text becomes its
# revision (unless it is the text written: a restore from the trash) and leaves the trash.
TRASH_TO_REVISIONS = sql.SQL(
    "WITH t AS (DELETE FROM note_trash WHERE user_id = %(user_id)s AND note_id = ANY(%(ids)s) "
    "RETURNING *) "
    "INSERT INTO note_revisions (user_id, note_id, content_hash, metadata, body, written_at, "
    "replaced_at) "
    "SELECT t.user_id, t.note_id, t.content_hash, t.metadata, t.body, t.written_at, t.deleted_at "
    "FROM t JOIN " + _NEW + " ON w.note_id = t.note_id "
    "WHERE t.body IS DISTINCT FROM w.body OR t.metadata <> w.meta::jsonb"
)
# The newest ``keep`` revisions of each of these notes stay.
TRIM_REVISIONS = sql.SQL(
    """
    DELETE FROM note_revisions r USING (
        SELECT revision, row_number() OVER (PARTITION BY note_id ORDER BY revision DESC) AS k
        FROM note_revisions WHERE user_id = %(user_id)s AND note_id = ANY(%(ids)s)) o
    WHERE r.revision = o.revision AND o.k > %(keep)s
    """
)
# Before a note is deleted: its last text into the trash.
TRASH_NOTE = sql.SQL(
    "INSERT INTO note_trash (user_id, note_id, content_hash, metadata, body, written_at, "
    "deleted_at) "
    "SELECT n.user_id, n.note_id, n.content_hash, n.metadata, " + _BODY + ", n.updated_at, "
    "%(now)s FROM notes n WHERE n.user_id = %(user_id)s AND n.note_id = %(note_id)s "
    "ON CONFLICT (user_id, note_id) DO UPDATE SET content_hash = EXCLUDED.content_hash, "
    "metadata = EXCLUDED.metadata, body = EXCLUDED.body, written_at = EXCLUDED.written_at, "
    "deleted_at = EXCLUDED.deleted_at"
)

LIST_REVISIONS = sql.SQL(
    """
    SELECT revision, content_hash, metadata, written_at, replaced_at FROM note_revisions
    WHERE user_id = %s AND note_id = %s ORDER BY revision DESC
    """
)
GET_REVISION = sql.SQL(
    "SELECT metadata, body FROM note_revisions "
    "WHERE user_id = %s AND note_id = %s AND revision = %s"
)
# The user's trash still within its time (``cutoff``: a delete at or before it has expired).
LIST_TRASH = sql.SQL(
    """
    SELECT note_id, content_hash, metadata, written_at, deleted_at FROM note_trash
    WHERE user_id = %(user_id)s AND deleted_at > %(cutoff)s ORDER BY deleted_at DESC, note_id
    """
)
GET_TRASHED = sql.SQL(
    "SELECT metadata, body FROM note_trash "
    "WHERE user_id = %(user_id)s AND note_id = %(note_id)s AND deleted_at > %(cutoff)s"
)
# Trash rows out (those deleted at or before ``cutoff``; of one user, or one note, when named),
# and the revisions of each such note that is not live again.
PURGE_TRASH = sql.SQL(
    """
    WITH gone AS (
        DELETE FROM note_trash
        WHERE deleted_at <= %(cutoff)s
          AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
          AND (%(note_id)s::text IS NULL OR note_id = %(note_id)s)
        RETURNING user_id, note_id),
    revs AS (
        DELETE FROM note_revisions r USING gone g
        WHERE r.user_id = g.user_id AND r.note_id = g.note_id
          AND NOT EXISTS (SELECT 1 FROM notes n
                          WHERE n.user_id = g.user_id AND n.note_id = g.note_id)
        RETURNING r.revision)
    SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM revs)
    """
)
# A note deleted with the trash off: its revisions go with it.
DELETE_REVISIONS = sql.SQL("DELETE FROM note_revisions WHERE user_id = %s AND note_id = %s")
