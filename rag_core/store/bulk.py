"""Bulk writes of notes and their chunks: a batch of notes in one transaction.

The caller (``PgVectorStore.upsert_notes``) opens the transaction and validates the vectors.
Here: one advisory lock for the user (writers of one user share its lexical-statistics rows),
one read of the stored hashes, the notes' rows, one delete of the replaced chunks, a binary
``COPY`` of the new chunk rows into the session's staging table and one ``INSERT ... SELECT``
into ``chunks`` (its statement trigger updates the BM25 statistics once per batch), and one bump
of the user's notes version when anything changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from psycopg.types.json import Jsonb

from rag_core.store import sql as q
from rag_core.store.base import NoteWrite, UpsertResult

if TYPE_CHECKING:
    import numpy as np

    from rag_core.store.pg_history import PgNoteHistory
    from rag_core.store.pool import Conn


def make_chunk_id(user_id: str, note_id: str, ordinal: int, content_hash: str) -> str:
    """``{note_id}:{ordinal}:{hash}``, deterministic, and unique across users.

    The hash covers the user id too: two users may both have a note "welcome" with the same
    text, and ``chunk_id`` is the table's primary key.
    """
    digest = hashlib.sha256(
        "\x1f".join((user_id, note_id, str(ordinal), content_hash)).encode()
    ).hexdigest()[:16]
    return f"{note_id}:{ordinal}:{digest}"


def bump_version(conn: Conn, user_id: str, changed: int) -> int:
    """The user's notes version after ``changed`` notes changed, owed to Redis from this
    transaction on (``sql.ledger``: settled once a process has written it there), and
    announced to every listening process when the transaction commits."""
    row = conn.execute(q.BUMP_VERSION, (user_id, changed)).fetchone()
    assert row is not None
    conn.execute(q.OWE_VERSION, (user_id, row[0]))
    conn.execute(q.NOTIFY_VERSION, (q.VERSION_DEBTS_CHANNEL, row[0], user_id))  # on commit
    return int(row[0])


def lock_user(conn: Conn, user_id: str) -> None:
    conn.execute(q.LOCK_USER, (q.USER_LOCK_NAMESPACE, user_id))


def write_notes(conn: Conn, user_id: str, items: Sequence[NoteWrite],
                vectors: Sequence[np.ndarray],
                history: PgNoteHistory | None = None) -> list[UpsertResult]:
    """Upsert ``items`` (``vectors[i]`` validated for ``items[i]``) inside ``conn``'s
    transaction; notes whose stored hash equals the new one are left alone. With ``history``,
    the texts they replace are kept as revisions first."""
    ids = [it.note.id for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError("a bulk write names the same note twice")
    lock_user(conn, user_id)
    stored: dict[str, str] = dict(conn.execute(q.NOTE_HASHES, (user_id, ids)).fetchall())
    changed = [i for i, it in enumerate(items) if stored.get(it.note.id) != it.note_hash]
    results = [UpsertResult(it.note.id, "unchanged", 0) for it in items]
    if not changed:
        return results
    if history is not None:
        history.keep_revisions(conn, user_id, [items[i] for i in changed],
                               {items[i].note.id for i in changed if items[i].note.id in stored})
    metadata = {i: Jsonb(items[i].note.metadata()) for i in changed}
    with conn.cursor() as cur:
        cur.executemany(q.UPSERT_NOTE, [
            (user_id, items[i].note.id, items[i].note_hash, metadata[i], items[i].note.body)
            for i in changed])
    replaced = [items[i].note.id for i in changed if items[i].note.id in stored]
    if replaced:
        conn.execute(q.DELETE_NOTES_CHUNKS, (user_id, replaced))
    rows = [
        (make_chunk_id(user_id, items[i].note.id, c.ordinal, c.content_hash), user_id,
         items[i].note.id, c.ordinal, c.text, c.content_hash, metadata[i], vectors[i][j])
        for i in changed for j, c in enumerate(items[i].chunks)
    ]
    if rows:
        conn.execute(q.CREATE_STAGING)
        with conn.cursor() as cur, cur.copy(q.COPY_STAGING) as copy:
            copy.set_types(list(q.STAGING_COLUMNS))
            for row in rows:
                copy.write_row(row)
        conn.execute(q.INSERT_STAGED_CHUNKS)
    bump_version(conn, user_id, len(changed))
    for i in changed:
        if items[i].note.id in stored:
            results[i] = UpsertResult(items[i].note.id, "updated", len(items[i].chunks))
        else:
            results[i] = UpsertResult(items[i].note.id, "inserted", len(items[i].chunks))
    return results
