"""Answer records, verdicts and the query log: PostgreSQL (``PgRecords``) or in process.

An answer id resolves here, never in Redis: Redis keeps nothing that grows with the number of
questions beyond the bounded cache layers. ``PgRecords`` borrows the store's pooled
connections (``PgVectorStore.records``); its SQL is in ``rag_core.store.sql.records``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from psycopg.types.json import Jsonb

from rag_core.store import sql as q


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

    def add_verdict(self, verdict: Verdict) -> Verdict: ...

    def verdicts(self) -> list[Verdict]: ...

    def log_query(self, entry: LoggedQuery) -> None: ...

    def queries(self, days: int) -> list[LoggedQuery]: ...

    def prune(self, answer_days: int, query_days: int) -> None: ...

    def purge_queries(self) -> int: ...


Connect = Callable[[str], AbstractContextManager[Any]]


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

    def add_verdict(self, verdict: Verdict) -> Verdict:
        params = {k: v for k, v in asdict(verdict).items() if k not in ("id", "created_at")}
        params["note_ids"] = Jsonb(list(verdict.note_ids))
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

    def log_query(self, entry: LoggedQuery) -> None:
        with self._db("query log") as conn:
            conn.execute(q.ADD_QUERY, {"user_hash": entry.user_hash, "question": entry.question,
                                       "outcome": entry.outcome, "cost_usd": entry.cost_usd})

    def queries(self, days: int) -> list[LoggedQuery]:
        with self._db("query log listing") as conn:
            return [LoggedQuery(*r) for r in conn.execute(q.LIST_QUERIES, (days,))]

    def prune(self, answer_days: int, query_days: int) -> None:
        with self._db("record pruning") as conn:
            conn.execute(q.PRUNE_ANSWERS, (answer_days,))
            conn.execute(q.PRUNE_QUERIES, (query_days,))

    def purge_queries(self) -> int:
        """Every query-log line out (``rag-core querylog purge``); returns how many."""
        with self._db("query log purge") as conn:
            return int(conn.execute(q.PURGE_QUERIES).rowcount)


class MemoryRecords:
    """The same in process (a store without PostgreSQL, unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, AnswerRecord] = {}
        self._verdicts: list[Verdict] = []
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

    def add_verdict(self, verdict: Verdict) -> Verdict:
        with self._lock:
            kept = replace(verdict, id=len(self._verdicts) + 1, created_at=_now())
            self._verdicts.append(kept)
            return kept

    def verdicts(self) -> list[Verdict]:
        with self._lock:
            return list(self._verdicts)

    def log_query(self, entry: LoggedQuery) -> None:
        with self._lock:
            self._queries.append(entry)

    def queries(self, days: int) -> list[LoggedQuery]:
        since = _now() - timedelta(days=days)
        with self._lock:
            return [e for e in self._queries if e.at >= since]

    def prune(self, answer_days: int, query_days: int) -> None:
        now = _now()
        with self._lock:
            self._answers = {k: r for k, r in self._answers.items()
                             if r.created_at is None
                             or r.created_at >= now - timedelta(days=answer_days)}
            self._queries = [e for e in self._queries
                             if e.at >= now - timedelta(days=query_days)]

    def purge_queries(self) -> int:
        with self._lock:
            removed, self._queries = len(self._queries), []
            return removed


def _now() -> datetime:
    return datetime.now(UTC)


def _answer_params(record: AnswerRecord) -> dict[str, Any]:
    return {k: v for k, v in asdict(record).items() if k != "created_at"}


def _answer_row(row: Any) -> AnswerRecord:
    return AnswerRecord(answer_id=row[0], user_id=row[1], source=row[2], cache_key=row[3],
                        notes_version=int(row[4]), semantic_field=row[5], origin_id=row[6],
                        created_at=row[7])


__all__ = ["AnswerRecord", "LoggedQuery", "MemoryRecords", "PgRecords", "Records", "Verdict"]
