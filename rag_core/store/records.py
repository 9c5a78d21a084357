"""Answer records, verdicts and the query log: PostgreSQL (``PgRecords``) or in process.

An answer id resolves here, never in Redis: Redis keeps nothing that grows with the number of
questions beyond the bounded cache layers. ``PgRecords`` borrows the store's pooled
connections (``PgVectorStore.records``); its SQL is in ``rag_core.store.sql.records``.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from psycopg.types.json import Jsonb

from rag_core.store import sql as q

if TYPE_CHECKING:
    from rag_core.store.pool import Conn


@dataclass(frozen=True)
class AnswerRecord:
    """An answer the service made (``source``: llm, semantic, none), not a cache hit of it."""

    answer_id: str
    user_id: str
    source: str
    cache_key: str = ""
    notes_version: int = 0
    semantic_field: str | None = None  # the semantic entry that holds this answer
    origin_id: str | None = None  # a reused answer: the record it was reused from
    created_at: datetime | None = None
    trace_id: str | None = None  # the answer's trace (hex), where a verdict's event goes
    span_id: str | None = None  # its ``assistant.query`` span


@dataclass(frozen=True)
class Verdict:
    answer_id: str
    user_id: str
    verdict: str  # wrong | right
    source: str  # the cache layer that served the answer, llm, or none
    comment: str | None = None
    question: str = ""
    answer: str = ""
    matched_question: str | None = None  # a semantic reuse: the cached question it reused
    no_context: bool = False
    note_ids: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    id: int = 0


@dataclass(frozen=True)
class LoggedQuery:
    at: datetime
    user_hash: str
    question: str
    outcome: str  # llm, query, semantic, stale, none
    cost_usd: float


class Records(Protocol):
    def add_answer(self, record: AnswerRecord) -> None: ...

    def answer(self, answer_id: str) -> AnswerRecord | None: ...

    def reuses_of(self, answer_id: str, user_id: str) -> list[AnswerRecord]: ...

    def add_verdict(self, verdict: Verdict,
                    window_start: datetime | None = None) -> Verdict:
        """Keep ``verdict``, replacing the user's earlier verdict on the same answer; a
        replacement of a verdict written after ``window_start`` counts as one more write in
        ``recent_verdicts`` (without one, a replacement counts as a first write)."""

    def verdicts(self) -> list[Verdict]: ...

    def recent_verdicts(self, user_id: str, since: datetime) -> int:
        """How many verdicts ``user_id`` gave (or changed) after ``since``."""

    def redact_note(self, user_id: str, note_id: str) -> int:
        """The text of the user's verdicts whose answers cited ``note_id`` blanked (the note
        is deleted); returns how many."""

    def purge_verdicts(self, keep_days: int | None = None) -> int:
        """Every verdict out, or those older than ``keep_days``; returns how many."""

    def log_query(self, entry: LoggedQuery) -> None: ...

    def queries(self, days: int) -> list[LoggedQuery]: ...

    def prune(self, answer_days: int, query_days: int, feedback_days: int) -> None: ...

    def purge_queries(self) -> int: ...

    def service_key(self, name: str) -> bytes:
        """The service's random key ``name`` (32 bytes), made on first use and kept."""


# a borrowed connection of the primary, by purpose (``PgPool.db``)
Connect = Callable[[str], AbstractContextManager["Conn"]]


class PgRecords:
    def __init__(self, db: Connect) -> None:
        self._db = db

    def add_answer(self, record: AnswerRecord) -> None:
        with self._db("answer record") as conn:
            conn.execute(q.ADD_ANSWER, _answer_params(record))

    def answer(self, answer_id: str) -> AnswerRecord | None:
        with self._db("answer lookup") as conn:
            row = conn.execute(q.GET_ANSWER, (answer_id,)).fetchone()
        return _answer_row(row) if row else None

    def reuses_of(self, answer_id: str, user_id: str) -> list[AnswerRecord]:
        with self._db("answer lookup") as conn:
            return [_answer_row(r) for r in conn.execute(q.REUSES_OF, (answer_id, user_id))]

    def add_verdict(self, verdict: Verdict,
                    window_start: datetime | None = None) -> Verdict:
        params = {k: v for k, v in asdict(verdict).items() if k not in ("id", "created_at")}
        params["note_ids"] = Jsonb(list(verdict.note_ids))
        params["window_start"] = window_start
        with self._db("verdict") as conn:
            row = conn.execute(q.ADD_FEEDBACK, params).fetchone()
        assert row is not None
        return replace(verdict, id=int(row[0]), created_at=row[1])

    def verdicts(self) -> list[Verdict]:
        with self._db("verdict listing") as conn:
            rows = conn.execute(q.LIST_FEEDBACK).fetchall()
        return [Verdict(id=int(r[0]), answer_id=r[1], user_id=r[2], created_at=r[3],
                        verdict=r[4], source=r[5], comment=r[6], question=r[7], answer=r[8],
                        matched_question=r[9], no_context=bool(r[10]),
                        note_ids=list(r[11] or [])) for r in rows]

    def recent_verdicts(self, user_id: str, since: datetime) -> int:
        with self._db("verdict count") as conn:
            row = conn.execute(q.COUNT_RECENT_FEEDBACK, (user_id, since)).fetchone()
        return int(row[0]) if row else 0

    def redact_note(self, user_id: str, note_id: str) -> int:
        with self._db("verdict redaction") as conn:
            return int(conn.execute(q.REDACT_FEEDBACK, {"user_id": user_id,
                                                        "note_id": note_id}).rowcount)

    def purge_verdicts(self, keep_days: int | None = None) -> int:
        with self._db("verdict purge") as conn:
            if keep_days is None:
                return int(conn.execute(q.PURGE_FEEDBACK).rowcount)
            return int(conn.execute(q.PRUNE_FEEDBACK, (keep_days,)).rowcount)

    def log_query(self, entry: LoggedQuery) -> None:
        with self._db("query log") as conn:
            conn.execute(q.ADD_QUERY, {"user_hash": entry.user_hash, "question": entry.question,
                                       "outcome": entry.outcome, "cost_usd": entry.cost_usd})

    def queries(self, days: int) -> list[LoggedQuery]:
        with self._db("query log listing") as conn:
            return [LoggedQuery(*r) for r in conn.execute(q.LIST_QUERIES, (days,))]

    def prune(self, answer_days: int, query_days: int, feedback_days: int) -> None:
        with self._db("record pruning") as conn:
            conn.execute(q.PRUNE_ANSWERS, (answer_days,))
            conn.execute(q.PRUNE_QUERIES, (query_days,))
            conn.execute(q.PRUNE_FEEDBACK, (feedback_days,))

    def purge_queries(self) -> int:
        """Every query-log line out (``rag-core querylog purge``); returns how many."""
        with self._db("query log purge") as conn:
            return int(conn.execute(q.PURGE_QUERIES).rowcount)

    def service_key(self, name: str) -> bytes:
        with self._db("service key") as conn:
            conn.execute(q.ADD_SERVICE_KEY, (name, secrets.token_bytes(32)))
            row = conn.execute(q.GET_SERVICE_KEY, (name,)).fetchone()
        assert row is not None
        return bytes(row[0])


class MemoryRecords:
    """The same in process (a store without PostgreSQL, unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, AnswerRecord] = {}
        self._verdicts: list[Verdict] = []
        self._writes: dict[int, int] = {}  # verdict id -> writes within its window
        self._next_id = 0
        self._keys: dict[str, bytes] = {}
        self._queries: list[LoggedQuery] = []

    def add_answer(self, record: AnswerRecord) -> None:
        with self._lock:
            self._answers[record.answer_id] = replace(record, created_at=_now())

    def answer(self, answer_id: str) -> AnswerRecord | None:
        with self._lock:
            return self._answers.get(answer_id)

    def reuses_of(self, answer_id: str, user_id: str) -> list[AnswerRecord]:
        with self._lock:
            return [r for r in self._answers.values()
                    if r.origin_id == answer_id and r.user_id == user_id]

    def add_verdict(self, verdict: Verdict,
                    window_start: datetime | None = None) -> Verdict:
        with self._lock:
            old = next((v for v in self._verdicts if v.user_id == verdict.user_id
                        and v.answer_id == verdict.answer_id), None)
            self._next_id += old is None
            kept = replace(verdict, id=old.id if old else self._next_id, created_at=_now())
            recent = (old is not None and old.created_at is not None
                      and window_start is not None and old.created_at > window_start)
            self._writes[kept.id] = self._writes.get(kept.id, 0) + 1 if recent else 1
            self._verdicts = [v for v in self._verdicts if v is not old] + [kept]
            return kept

    def verdicts(self) -> list[Verdict]:
        with self._lock:
            return sorted(self._verdicts, key=lambda v: v.id)

    def recent_verdicts(self, user_id: str, since: datetime) -> int:
        with self._lock:
            return sum(self._writes.get(v.id, 1) for v in self._verdicts
                       if v.user_id == user_id and v.created_at is not None
                       and v.created_at > since)

    def redact_note(self, user_id: str, note_id: str) -> int:
        with self._lock:
            hit = [v for v in self._verdicts if v.user_id == user_id and note_id in v.note_ids]
            self._verdicts = [v for v in self._verdicts if v not in hit] + [replace(
                v, question="", answer="", comment=None, matched_question=None,
                note_ids=[n for n in v.note_ids if n != note_id]) for v in hit]
            return len(hit)

    def purge_verdicts(self, keep_days: int | None = None) -> int:
        with self._lock:
            before = len(self._verdicts)
            if keep_days is None:
                self._verdicts = []
            else:
                since = _now() - timedelta(days=keep_days)
                self._verdicts = [v for v in self._verdicts
                                  if v.created_at is None or v.created_at >= since]
            return before - len(self._verdicts)

    def log_query(self, entry: LoggedQuery) -> None:
        with self._lock:
            self._queries.append(entry)

    def queries(self, days: int) -> list[LoggedQuery]:
        since = _now() - timedelta(days=days)
        with self._lock:
            return [e for e in self._queries if e.at >= since]

    def prune(self, answer_days: int, query_days: int, feedback_days: int) -> None:
        now = _now()
        with self._lock:
            self._verdicts = [v for v in self._verdicts if v.created_at is None
                              or v.created_at >= now - timedelta(days=feedback_days)]
            self._answers = {k: r for k, r in self._answers.items()
                             if r.created_at is None
                             or r.created_at >= now - timedelta(days=answer_days)}
            self._queries = [e for e in self._queries
                             if e.at >= now - timedelta(days=query_days)]

    def purge_queries(self) -> int:
        with self._lock:
            removed, self._queries = len(self._queries), []
            return removed

    def service_key(self, name: str) -> bytes:
        with self._lock:
            return self._keys.setdefault(name, secrets.token_bytes(32))


def _now() -> datetime:
    return datetime.now(UTC)


def _answer_params(record: AnswerRecord) -> dict[str, Any]:
    return {k: v for k, v in asdict(record).items() if k != "created_at"}


def _answer_row(row: Any) -> AnswerRecord:
    return AnswerRecord(answer_id=row[0], user_id=row[1], source=row[2], cache_key=row[3],
                        notes_version=int(row[4]), semantic_field=row[5], origin_id=row[6],
                        created_at=row[7], trace_id=row[8], span_id=row[9])


__all__ = ["AnswerRecord", "LoggedQuery", "MemoryRecords", "PgRecords", "Records", "Verdict"]
