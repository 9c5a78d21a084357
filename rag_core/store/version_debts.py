"""Notes versions that Redis has not taken yet, as PostgreSQL records them (``sql.ledger``).

A note change records its new version here in its own transaction; the process that made it
settles the row once Redis holds the version and the user's older answers are purged
(``rag_core.cache.versions``). A row that stays (Redis was down, or that process died) is seen
by every other process, which reads that user's version from PostgreSQL until one of them
redoes the write. The same transaction announces the change (``version_notices``), so that the
other processes hear of it at its commit rather than at their next poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from rag_core.store.sql import ledger as q
from rag_core.store.version_notices import PgVersionNotices

if TYPE_CHECKING:
    from rag_core.store.records import Connect


MAX_DEBTS_READ = 1_000  # a poll reads at most this many (the oldest first)


@dataclass(frozen=True)
class VersionDebt:
    user_id: str
    version: int  # the user's version now (PostgreSQL's), at least the one owed
    age_s: float  # how long it has been owed


class VersionDebts(Protocol):
    # the note changes announced as they commit (None: the poll alone tells)
    notices: PgVersionNotices | None

    def owed(self) -> list[VersionDebt]: ...

    def settle(self, user_id: str, version: int) -> None:
        """Redis holds ``version`` (or a newer one) of the user: the debt is paid."""


class PgVersionDebts:
    def __init__(self, db: Connect, notices: PgVersionNotices | None = None) -> None:
        self._db = db
        self.notices = notices

    def owed(self) -> list[VersionDebt]:
        with self._db("notes version debts") as conn:
            return [VersionDebt(r[0], int(r[1]), float(r[2]))
                    for r in conn.execute(q.VERSION_DEBTS, (MAX_DEBTS_READ,))]

    def settle(self, user_id: str, version: int) -> None:
        with self._db("notes version debts") as conn:
            conn.execute(q.SETTLE_VERSION, (user_id, version))
