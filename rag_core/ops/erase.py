"""Erase one user everywhere (``rag-core users erase``, ``DELETE /v1/users/{user_id}``).

The order holds for questions of that user still in flight: PostgreSQL first (one transaction:
every row of the user, the erasure recorded by a keyed hash, and for ``ERASE_GUARD_S`` a guard
that keeps out their answer records, verdicts and query-log lines, and sends their spend to the
anonymous key), then Redis (every key of the user; the notes version key goes too, so that an
answer still being written back, which is stored only while that key holds the version it was
made from, is not stored).

The user is named by a keyed hash in the audit (``user_key``: SHA-256 of the service key
``erasure`` followed by the id), never by the id or its plain hash.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag_core.answers.log import QUERY_LOG_KEY_NAME, user_hash
from rag_core.cache.layers import CacheLayers
from rag_core.errors import ErasureIncomplete, InvalidArgument, UserNotFound
from rag_core.ingest.ingestion import check_user
from rag_core.ops import erasure_log as erasures
from rag_core.ops.redis_erase import erase_keys, keys_naming
from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient
from rag_core.store.base import Store
from rag_core.store.erasure import UserMarks, erase_rows, user_known
from rag_core.store.pgvector import PgVectorStore
from rag_core.store.sql.erasure import ERASURE_KEY_NAME
from rag_core.telemetry import logs

if TYPE_CHECKING:
    from rag_core.conversations.store import ConversationStore

log = logging.getLogger("rag_core.audit")


def user_key(secret: bytes, user_id: str) -> str:
    """The keyed hash that names an erased user (the same as SQL's ``rag_user_key``)."""
    return hashlib.sha256(secret + user_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Erasure:
    """What an erasure took out: rows per table, and keys and entries of Redis."""

    user_key: str
    rows: dict[str, int] = field(default_factory=dict)
    redis_keys: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"erased": True, "user_key": self.user_key, "rows": dict(self.rows),
                "redis_keys": self.redis_keys}


def pg_store(store: Store) -> PgVectorStore:
    if not isinstance(store, PgVectorStore):
        raise InvalidArgument("Erasing a user needs the PostgreSQL store (DATABASE_URL or the "
                              "embedded server).")
    return store


def marks_of(store: PgVectorStore, user_id: str, log_key: bytes | None) -> UserMarks:
    """The user's id and its keyed hashes (the service keys made on first use)."""
    secret = store.records.service_key(ERASURE_KEY_NAME)
    key = log_key if log_key is not None else store.records.service_key(QUERY_LOG_KEY_NAME)
    return UserMarks(user_id, user_key(secret, user_id), user_hash(key, user_id))


def erase_user(store: Store, caches: CacheLayers, client: RedisClient | None, user_id: str,
               *, log_key: bytes | None, actor: str | None,
               erasure_log: Path | None,
               conversations: ConversationStore | None = None) -> Erasure:
    """Every row and key of ``user_id`` out; ``UserNotFound`` (nothing touched) when no table
    holds a row of theirs. ``actor``: who asked (a service's name; the user's own id is
    recorded as ``self``). ``erasure_log``: the file the erasure is appended to first, so that
    a restore replays it (``ErasureLogUnwritable``, nothing touched, when it cannot be
    written); None only where no backup is ever restored (tests). ``conversations``: the
    serving process's store, whose conversations kept in process (no Redis) go too; in
    Redis they are the user's keys, erased with the rest."""
    check_user(user_id)
    pg = pg_store(store)
    marks = marks_of(pg, user_id, log_key)
    db = pg.pool.db
    known = user_known(db, marks)
    try:  # keys left by an erasure that Redis interrupted count as the user's too
        left = client is not None and bool(keys_naming(client, user_id))
    except REDIS_ERRORS as exc:
        raise ErasureIncomplete("Redis is not reachable, so nothing was erased; run it again "
                                "once Redis answers.") from exc
    if not known and not left:
        raise UserNotFound(f"No such user: {user_id!r} has no notes, answers, verdicts, "
                           "spend or query log lines here.")
    who = "self" if actor == user_id else actor
    if erasure_log is not None:
        erasures.append(erasure_log, marks.user_key, marks.log_hash)
    rows = erase_rows(db, marks, who)
    try:
        keys = erase_keys(client, caches, user_id)
        if conversations is not None:
            keys += conversations.erase_user(user_id)
    except REDIS_ERRORS as exc:
        raise ErasureIncomplete("The user's rows are erased but Redis stopped answering: run "
                                "the erasure again once it does (it finds the keys left).") \
            from exc
    erasure = Erasure(marks.user_key, rows.tables, keys)
    logs.log_event(log, logging.INFO, "user erased", user_key=marks.user_key, actor=who,
                   rows=rows.total, redis_keys=keys, outcome="done")
    return erasure
