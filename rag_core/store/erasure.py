"""One user's rows out of PostgreSQL, in one transaction (``rag_core.ops.erase`` drives it).

Every table with a ``user_id`` column loses the user's rows (notes, and their chunks by
cascade; versions, statistics, answer records, verdicts, reservations, limits, whatever a later
migration adds); the query log loses the lines of the user's hash; the user's spend and request
counts are added to the anonymous key's first (``sql.erasure.ANONYMOUS_USER``). The erasure is
recorded by the keyed hash (``erased_users``, ``audit_log``), inside the same transaction, under
the user's write lock: a note written at the same time comes before or after, never half.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from psycopg.types.json import Jsonb

from rag_core.store import sql as q

if TYPE_CHECKING:
    from rag_core.store.pool import Conn
    from rag_core.store.records import Connect



@dataclass(frozen=True)
class UserMarks:
    """How the database names one user: the id, its keyed hash (the audit's and the guard's)
    and the query log's hash."""

    user_id: str
    user_key: str
    log_hash: str


@dataclass
class RowsErased:
    """Rows taken out per table (the query log's under ``query_log``)."""

    tables: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.tables.values())


def user_tables(conn: Conn) -> list[str]:
    return [str(r[0]) for r in conn.execute(q.USER_TABLES).fetchall()]


def user_known(db: Connect, marks: UserMarks) -> bool:
    """Whether any table holds a row of the user (or the query log a line of theirs)."""
    with db("user lookup") as conn:
        for table in user_tables(conn):
            row = conn.execute(q.has_rows(table), (marks.user_id,)).fetchone()
            if row and row[0]:
                return True
        row = conn.execute(q.HAS_LOG_LINES, (marks.log_hash,)).fetchone()
        return bool(row and row[0])


def erase_rows(db: Connect, marks: UserMarks, actor: str | None) -> RowsErased:
    """Take every row of the user out, in one transaction; the erasure recorded by the keyed
    hash. Rows of the anonymous key are left whole."""
    out = RowsErased()
    names = {"anonymous": q.ANONYMOUS_USER, "user_id": marks.user_id}
    with db("user erasure") as conn:
        conn.execute(q.LOCK_USER, (q.USER_LOCK_NAMESPACE, marks.user_id))
        conn.execute(q.ADD_ERASED, (marks.user_key, marks.log_hash))
        conn.execute(q.MOVE_COSTS, names)
        conn.execute(q.MOVE_REQUESTS, names)
        tables = user_tables(conn)
        # chunks, then notes first (their statistics go by trigger), then the rest
        tables = [t for t in ("chunks", "notes") if t in tables] + [
            t for t in tables if t not in ("chunks", "notes")]
        for table in tables:
            n = conn.execute(q.delete_rows(table), (marks.user_id,)).rowcount
            if n:
                out.tables[table] = n
        n = conn.execute(q.DELETE_LOG_LINES, (marks.log_hash,)).rowcount
        if n:
            out.tables["query_log"] = n
        conn.execute(q.ADD_AUDIT, ("user_erased", marks.user_key, actor,
                                   Jsonb({"rows": out.tables})))
    return out
